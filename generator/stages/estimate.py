"""How long a planned run will take, from a finished run's report.json (pure).

A run's wall time is modelled as a fixed part F (plan, pods starting, cold caches, the
aggregate, the last worker's wait) plus the files one worker gets times t, the wall seconds
a worker spends per file (the service's own time and the runner's around it). One finished
run gives both: t from its median worker's steady pace in the timeline (from a quarter of
its files done to its last one), F as what its wall time leaves over. A new plan of N
files on W workers then takes F + ceil(N / W) * t.
A run with no timeline (report.json of an older version) gives t as its mean file seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """A planned run's expected wall time and the worker pods' reserved hours."""

    source: str  # the run it was made from
    wall_seconds: float
    cpu_hours: float
    gpu_hours: float
    file_seconds: float  # t: a worker's wall seconds per file
    fixed_seconds: float  # F

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "wall_seconds": round(self.wall_seconds, 1),
            "cpu_hours": round(self.cpu_hours, 3),
            "gpu_hours": round(self.gpu_hours, 3),
            "file_seconds": round(self.file_seconds, 3),
            "fixed_seconds": round(self.fixed_seconds, 1),
        }


def _median_curve(timeline: dict[str, Any]) -> list[float] | None:
    if timeline.get("band"):
        median: list[float] = timeline["band"]["median"]
        return median
    lines = list((timeline.get("lines") or {}).values())
    if not lines:
        return None
    return [sorted(column)[len(column) // 2] for column in zip(*lines, strict=True)]


def fit(report: dict[str, Any]) -> tuple[float, float] | None:
    """(t, F) of a finished run's report, or None when it processed nothing."""
    attempt = report.get("attempt") or {}
    processed, workers = attempt.get("processed") or 0, report.get("workers") or 0
    wall = float(report.get("wall_seconds") or 0.0)
    if not processed or not workers or wall <= 0:
        return None
    per_worker = processed / workers
    timeline = report.get("timeline") or {}
    curve = _median_curve(timeline)
    step = float(timeline.get("bin_seconds") or 0.0)
    if curve and step > 0 and per_worker > 1:
        # the median worker's steady pace: from when it had a quarter of its files done to
        # its last one (the first files pay for cold caches: part of the fixed cost)
        warm = next(i for i, v in enumerate(curve) if v >= 25)
        last = max(i for i in range(1, len(curve)) if curve[i] > curve[i - 1])
        share = (curve[last] - curve[warm]) / 100
        t = (last - warm) * step / (per_worker * share) if share > 0 else 0.0
    else:
        t = float((report.get("file_seconds") or {}).get("mean") or 0.0)
    return t, max(wall - per_worker * t, 0.0)


def estimate(
    report: dict[str, Any], pending: int, workers: int, cpu: float, gpu: float
) -> Estimate | None:
    """The wall time of `pending` files on `workers` workers of `cpu` cores and `gpu` GPUs
    each, from a finished run's report; None when that run processed nothing.

    CPU- and GPU-hours are what the worker pods reserve: their requests for the wall time.
    """
    fitted = fit(report)
    if fitted is None or workers <= 0:
        return None
    t, fixed = fitted
    wall = fixed + math.ceil(pending / workers) * t
    source = (
        f"run {report.get('run')}: {(report.get('attempt') or {}).get('processed')} files on"
        f" {report.get('workers')} workers in {report.get('wall_seconds')} s"
    )
    hours = workers * wall / 3600
    return Estimate(source, wall, hours * cpu, hours * gpu, t, fixed)
