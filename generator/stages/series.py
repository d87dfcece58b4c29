"""The small series a run's page draws, binned from per-file figures (pure).

report.json carries these, not the per-file figures, so the page (and report.json) stays the
same size whatever the file count, and `report --html` redraws a run's page from its
report.json alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

TIME_BINS = 60
LINES = 8  # workers drawn one by one; past that, a band and the LINES furthest behind
DURATION_BINS = 40
REASONS_SHOWN = 20  # distinct reasons kept; the rest count as "other"
EXAMPLES = 3  # example keys kept per reason

V = TypeVar("V", covariant=True)


class Values(Protocol[V]):
    """Per-file figures as the binning reads them: a list, or a column the aggregate reads
    back from disk (stages/aggregate.Column) so that they are never all in memory."""

    def __len__(self) -> int: ...
    def __getitem__(self, at: int, /) -> V: ...
    def __iter__(self) -> Iterator[V]: ...


def timeline(
    stamps: Values[float],
    shard_of: Values[int],
    shards: Sequence[str],
    start: float,
    planned: dict[str, int],
    span: tuple[float, float] | None = None,
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
        span: the earliest and the latest stamp, when known (saves two passes over them).
    """
    if not stamps:
        return {"start": start, "bin_seconds": 0, "workers": 0, "band": None, "lines": {}}
    first, last = span or (min(stamps), max(stamps))
    start = min(start, first)
    step = max((last - start) / TIME_BINS, 1e-3)
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


def histogram(ordered: Values[float]) -> dict[str, Any]:
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


CHANGED_SHOWN = 20  # files listed as the ones that changed most
RECORD_CELLS = 30  # distinct record counts per side drawn as they are; past that, in ranges
CLASS_VALUES = 30  # a field with more distinct values is not a class


@dataclass
class Changes:
    """What a comparison's page draws, fed one file at a time (bounded memory): how many
    files had each (records in A, records in B) pair, and the files that changed most."""

    pairs: dict[tuple[int, int], int] = field(default_factory=dict)
    top: list[tuple[int, str, int, int, list[str]]] = field(default_factory=list)
    verdicts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, verdict: str, a: int | None, b: int | None, changed: list[str]) -> None:
        self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1
        if a is None and b is None:
            return
        a, b = a or 0, b or 0
        self.pairs[(a, b)] = self.pairs.get((a, b), 0) + 1
        if a != b or changed:
            self.top.append((abs(b - a), key, a, b, changed))
            if len(self.top) > 4 * CHANGED_SHOWN:  # keep the list short as files stream by
                self._trim()

    def _trim(self) -> None:
        self.top.sort(key=lambda t: (-t[0], t[1]))
        del self.top[CHANGED_SHOWN:]

    def series(self) -> dict[str, Any]:
        """Record pairs (binned when many distinct counts), the delta histogram, the top files."""
        self._trim()
        cells: dict[tuple[int, int], int] = {}
        top = max((max(p) for p in self.pairs), default=0)
        width = max(1, math.ceil((top + 1) / RECORD_CELLS))
        for (a, b), n in self.pairs.items():
            cell = (a // width * width, b // width * width)
            cells[cell] = cells.get(cell, 0) + n
        deltas: dict[int, int] = {}
        for (a, b), n in self.pairs.items():
            d = (b - a) // width * width
            deltas[d] = deltas.get(d, 0) + n
        return {
            "cell": width,
            "pairs": [[a, b, n] for (a, b), n in sorted(cells.items())],
            "deltas": [[d, n] for d, n in sorted(deltas.items())],
            "changed_most": [
                {"file": key, "a": a, "b": b, "changed": changed}
                for _, key, a, b, changed in self.top
            ],
        }


@dataclass
class Classes:
    """Per-class totals of a run's merged records: the string field whose values look like
    classes (at most CLASS_VALUES distinct ones) and is set in the most records."""

    values: dict[str, dict[str, int]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)

    def add(self, record: dict[str, Any]) -> None:
        for name, value in record.items():
            if name in ("input_key", "output") or name in self.dropped:
                continue
            if not isinstance(value, str):
                continue
            counts = self.values.setdefault(name, {})
            counts[value] = counts.get(value, 0) + 1
            self.seen[name] = self.seen.get(name, 0) + 1
            if len(counts) > CLASS_VALUES:
                self.dropped.add(name)
                del self.values[name]

    def field_name(self) -> str | None:
        found = [(n, -self.seen[n]) for n in self.values]
        return min(found, key=lambda f: (f[1], f[0]))[0] if found else None


def class_totals(a: Classes, b: Classes) -> dict[str, Any] | None:
    """Totals per class in A and in B, of the class field both runs share (None: none)."""
    shared = [n for n in (a.field_name(), b.field_name()) if n and n in a.values and n in b.values]
    if not shared:
        return None
    name = shared[0]
    classes = sorted(set(a.values[name]) | set(b.values[name]))
    return {
        "field": name,
        "classes": [
            {"class": c, "a": a.values[name].get(c, 0), "b": b.values[name].get(c, 0)}
            for c in classes
        ],
    }


class Shape(BaseModel):
    # a report.json is read back from a bucket (`report --html`, `runs --html`): its series are
    # checked, not trusted, before anything is drawn from them
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Band(Shape):
    min: list[float]
    median: list[float]
    max: list[float]


class Timeline(Shape):
    bin_seconds: float
    workers: int
    band: Band | None
    lines: dict[str, list[float]]

    @model_validator(mode="after")
    def _same_lengths(self) -> Timeline:
        curves = [
            *self.lines.values(),
            *((self.band.min, self.band.median, self.band.max) if self.band else ()),
        ]
        if not curves or len({len(c) for c in curves}) != 1 or len(curves[0]) < 2:
            raise ValueError("its curves must be as long as each other, with 2 points or more")
        return self


class Durations(Shape):
    edges: list[float]
    counts: list[int]
    log: bool

    @model_validator(mode="after")
    def _edges_around_counts(self) -> Durations:
        if len(self.edges) != len(self.counts) + 1 or not self.counts:
            raise ValueError("it needs one edge more than counts")
        return self


class Reason(Shape):
    status: str
    reason: str
    files: int
    examples: list[str]


class ShardFigures(Shape):
    files: int
    seconds: float
    failed: int
