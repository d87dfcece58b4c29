"""The small series a run's page draws, binned from per-file figures (pure).

report.json carries these, not the per-file figures, so the page (and report.json) stays the
same size whatever the file count, and `report --html` redraws a run's page from its
report.json alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

TIME_BINS = 60
LINES = 8  # workers drawn one by one; past that, a band and the LINES furthest behind
DURATION_BINS = 40
REASONS_SHOWN = 20  # distinct reasons kept; the rest count as "other"
EXAMPLES = 3  # example keys kept per reason


def timeline(
    stamps: Sequence[float],
    shard_of: Sequence[int],
    shards: Sequence[str],
    start: float,
    planned: dict[str, int],
) -> dict[str, Any]:
    """The share of its files each worker (shard) had done, in TIME_BINS equal intervals.

    Up to LINES workers each keep their line; past that, the spread of all of them is a band
    (min, median, max per interval) and only the workers behind keep a line (not done, or
    done a quarter later than the median worker; at most LINES): the series stays the same
    size however wide the run, and a straggler or a dead worker stands out.

    Args:
        stamps: when each file's result was stored (epoch seconds).
        shard_of: each stamp's shard, as an index into `shards`.
        shards: shard ids.
        start: when the attempt began (the plan); earlier stamps move it back (clock skew).
        planned: files the plan gave each shard (a dead worker's line stops below 100%).
    """
    if not stamps:
        return {"start": start, "bin_seconds": 0, "workers": 0, "band": None, "lines": {}}
    start = min(start, min(stamps))
    step = max((max(stamps) - start) / TIME_BINS, 1e-3)
    counts = [[0] * TIME_BINS for _ in shards]
    for t, s in zip(stamps, shard_of, strict=True):
        counts[s][min(TIME_BINS - 1, int((t - start) / step))] += 1
    curves = {
        sid: _done(c, planned.get(sid) or sum(c)) for sid, c in zip(shards, counts, strict=True)
    }
    band = None
    lines = dict(sorted(curves.items()))
    if len(curves) > LINES:
        columns = [sorted(c) for c in zip(*curves.values(), strict=True)]
        band = {
            "min": [c[0] for c in columns],
            "median": [c[len(c) // 2] for c in columns],
            "max": [c[-1] for c in columns],
        }
        median = sorted(map(_finish, curves.values()))[len(curves) // 2]
        behind = [s for s, ys in curves.items() if ys[-1] < 100 or _finish(ys) > 1.25 * median]
        behind.sort(key=lambda s: (curves[s][-1], -_finish(curves[s]), s))
        lines = {s: curves[s] for s in behind[:LINES]}
    return {
        "start": round(start, 3),
        "bin_seconds": round(step, 3),
        "workers": len(curves),
        "band": band,
        "lines": lines,
    }


def _done(counts: list[int], total: int) -> list[float]:
    """% of `total` done at the start and at the end of each interval."""
    done, out = 0, [0.0]
    for n in counts:
        done += n
        out.append(round(100 * done / (total or 1), 1))
    return out


def _finish(ys: list[float]) -> int:
    """The interval in which a worker stored its last result."""
    return max((i for i in range(1, len(ys)) if ys[i] > ys[i - 1]), default=0)


def histogram(ordered: Sequence[float]) -> dict[str, Any]:
    """DURATION_BINS bins of sorted per-file seconds; log-spaced when the tail is long."""
    if not ordered:
        return {"edges": [], "counts": [], "log": False}
    low, high = ordered[0], ordered[-1]
    log = low > 0 and high / low > 50
    if log:
        a, b = math.log10(low), math.log10(high)
        edges = [10 ** (a + (b - a) * i / DURATION_BINS) for i in range(DURATION_BINS + 1)]
    else:
        top = high if high > 0 else 1.0
        edges = [top * i / DURATION_BINS for i in range(DURATION_BINS + 1)]
    counts = [0] * DURATION_BINS
    j = 0
    for v in ordered:  # sorted: one pass
        while j < DURATION_BINS - 1 and v >= edges[j + 1]:
            j += 1
        counts[j] += 1
    return {"edges": [round(e, 6) for e in edges], "counts": counts, "log": log}


@dataclass
class Reasons:
    """Files not processed, counted by status and reason, with the first keys of each."""

    found: dict[tuple[str, str], tuple[int, list[str]]] = field(default_factory=dict)

    def add(self, status: str, reason: str, key: str) -> None:
        label = (status, reason or status)
        if label not in self.found and len(self.found) >= REASONS_SHOWN:
            label = (status, "other")
        files, examples = self.found.get(label, (0, []))
        if len(examples) < EXAMPLES:
            examples.append(key)
        self.found[label] = (files + 1, examples)

    def series(self) -> list[dict[str, Any]]:
        """Most files first."""
        ordered = sorted(self.found.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return [
            {"status": status, "reason": reason, "files": files, "examples": examples}
            for (status, reason), (files, examples) in ordered
        ]
