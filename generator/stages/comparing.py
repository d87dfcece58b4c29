"""Two runs' comparison drawn as a page: the verdicts of bucket/compare with the records per
input, the files that changed most and the per-class totals of their merged records. Used by
`compare --html` and by the aggregate, which writes compare.html against the run's predecessor
(the latest finished run of the spec made by another service version)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from generator.bucket import compare, runs
from generator.bucket.reader import Store
from generator.clients import s3
from generator.spec.model import BatchSpec
from generator.stages import pages, series


def watched(
    diffs: Iterator[compare.FileDiff], changes: series.Changes
) -> Iterator[compare.FileDiff]:
    """The diffs as they pass, each fed to the page's `changes`."""
    for d in diffs:
        changes.add(d.relative, d.verdict, d.a.get("records"), d.b.get("records"), d.changed)
        yield d


def _classes(side: compare.Side) -> series.Classes:
    """The class values of a run's merged records (results.jsonl, when output.merge wrote it)."""
    found = series.Classes()
    key = side.where.merged("jsonl")
    if side.store.read(key) is None:  # a run without merged records
        return found
    for line in s3.split_lines(side.store.chunks(key)):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.add(record)
    return found


def page(summary: dict[str, int], a: compare.Side, b: compare.Side, changes: series.Changes) -> str:
    """The page of a comparison whose diffs all went through `watched(..., changes)`."""
    classes = series.class_totals(_classes(a), _classes(b))
    return pages.compare_page(summary, a.run, b.run, changes.series(), classes)


def against_predecessor(
    store: Store, spec: BatchSpec, run: str, made_by: str | None
) -> tuple[str, str] | None:
    """(the predecessor's name, the page comparing it with `run`), or None when `run` (made by
    the service version `made_by`) has no predecessor. Identical/differ come from the
    recorded output hashes and record counts from each run's counts.tsv: outputs are read
    only where a count is missing.

    Raises:
        OscarBatchError: a run's documents cannot be read or compared.
    """
    before = runs.predecessor(store, spec, run, made_by)
    if before is None:
        return None
    changes = series.Changes()
    counts = dict.fromkeys(compare.VERDICTS, 0)
    side_a = compare.Side.open(store, spec, before.run)
    try:
        side_b = compare.Side.open(store, spec, run)
        try:
            for d in watched(compare.compare(side_a, side_b, count_identical=True), changes):
                counts[d.verdict] += 1
            summary: dict[str, Any] = {"files": sum(counts.values()), **counts}
            return before.run, page(summary, side_a, side_b, changes)
        finally:
            side_b.close()
    finally:
        side_a.close()
