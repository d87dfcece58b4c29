"""Compare two runs file by file: are the outputs identical, different, or on one side only?

Files are matched on their key relative to each spec's input prefix, so two specs over
different prefixes compare too. Each run's `outputs/` is listed once (streamed) and each
output hashed (SHA-256) from a stream: S3 ETags are not content hashes for multipart
uploads, and nothing is downloaded whole except JSON/CSV outputs up to `COUNT_LIMIT` bytes,
whose records are counted (e.g. detections per image). Results are looked up in a compact
`ResultIndex` per run and files are hashed through a bounded window of threads, so memory
grows by 8 bytes per file with outputs, not with what they hold.
"""

from __future__ import annotations

import bisect
import hashlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from generator.bucket import layout, merge
from generator.bucket import records as record_count
from generator.bucket.reader import Store
from generator.bucket.results import ResultIndex, output_groups
from generator.clients import s3
from generator.errors import StorageError
from generator.spec.model import BatchSpec

COUNT_LIMIT = 16 << 20
Hashed = dict[str, tuple[str, int | None]]  # output name -> (sha256, records or None)
T = TypeVar("T")
VERDICTS = ("identical", "differ", "only_a", "only_b", "neither")


@dataclass(frozen=True)
class Side:
    """One run of a comparison: where it is and its results."""

    store: Store
    spec: BatchSpec
    run: str
    where: layout.RunLayout
    index: ResultIndex
    records: list[str] | None = None  # where an output's records are (records.parse_path)

    @classmethod
    def open(cls, store: Store, spec: BatchSpec, run: str, records: str | None = None) -> Side:
        where = layout.RunLayout.of(spec, run)
        if store.read(where.plan) is None:
            raise StorageError(f"run {run} has no plan ({where.plan} does not exist)")
        index = ResultIndex.build(store.listing(where.results))
        path = None if records is None else record_count.parse_path(records)
        return cls(store, spec, run, where, index, path)

    def keys(self) -> Iterator[tuple[str, str]]:
        """(key relative to the input prefix, key) of every planned, supported file."""
        for line in s3.split_lines(self.store.chunks(self.where.index)):
            _, _, key, unsupported = layout.parse_index_line(line)
            if not unsupported:
                yield key[len(self.spec.input.prefix) :], key

    def status(self, relative: str) -> str:
        found = self.index.find(layout.file_id(self.spec.input.prefix + relative))
        if found is None:
            return "missing"  # no result: not planned in this run, or its worker died
        return "succeeded" if found.ok else "failed"

    def outputs(self, threads: int) -> Iterator[tuple[str, Hashed]]:
        """(relative key, its outputs hashed) of each succeeded file that stored any, in
        order of `relative + "/"`, from one streamed listing of the run's outputs."""
        listing = self.store.listing(self.where.outputs)
        groups = output_groups(listing, self.where.outputs, self.spec.input.prefix, self.index)
        return s3.ordered_map(lambda g: (g[0], self._hashed(*g)), groups, threads)

    def _hashed(self, relative: str, names: list[str]) -> Hashed:
        out = {}
        for name in names:
            digest = hashlib.sha256()
            kept = bytearray()
            countable = merge.kind(name, ("json", "jsonl", "csv")) is not None
            for chunk in self.store.chunks(f"{self.where.outputs}{relative}/{name}"):
                digest.update(chunk)
                if countable and len(kept) <= COUNT_LIMIT:
                    kept += chunk
            whole = countable and len(kept) <= COUNT_LIMIT
            counted = record_count.count(name, bytes(kept), self.records) if whole else None
            out[name] = (digest.hexdigest(), counted)
        return out


@dataclass
class FileDiff:
    relative: str
    verdict: str
    a: dict[str, Any]
    b: dict[str, Any]
    changed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.relative,
            "verdict": self.verdict,
            "a": self.a,
            "b": self.b,
            "changed": self.changed,
        }


def _records(outputs: Hashed) -> int | None:
    counts = [n for _, n in outputs.values() if n is not None]
    return sum(counts) if counts else None


def _diff(relative: str, status_a: str, status_b: str, out_a: Hashed, out_b: Hashed) -> FileDiff:
    side_a = {"status": status_a, "outputs": len(out_a), "records": _records(out_a)}
    side_b = {"status": status_b, "outputs": len(out_b), "records": _records(out_b)}
    ok_a, ok_b = status_a == "succeeded", status_b == "succeeded"
    if ok_a and ok_b:
        changed = sorted(n for n in set(out_a) | set(out_b) if out_a.get(n) != out_b.get(n))
        return FileDiff(relative, "differ" if changed else "identical", side_a, side_b, changed)
    verdict = "only_a" if ok_a else "only_b" if ok_b else "neither"
    return FileDiff(relative, verdict, side_a, side_b)


def _joined(
    left: Iterator[tuple[str, T]], right: Iterator[tuple[str, T]], order: Callable[[str], str]
) -> Iterator[tuple[str, T | None, T | None]]:
    """Two streams sorted by `order(name)` joined on the name (None: not on that side)."""
    la, lb = next(left, None), next(right, None)
    while la is not None or lb is not None:
        if lb is None or (la is not None and order(la[0]) < order(lb[0])):
            assert la is not None
            yield la[0], la[1], None
            la = next(left, None)
        elif la is None or order(lb[0]) < order(la[0]):
            yield lb[0], None, lb[1]
            lb = next(right, None)
        else:
            yield la[0], la[1], lb[1]
            la, lb = next(left, None), next(right, None)


def compare(a: Side, b: Side, threads: int = 16) -> Iterator[FileDiff]:
    """Every file of either run with its verdict.

    First the files with outputs on either side (one listing of each run's outputs, joined
    in listing order), then the rest from the two indexes (succeeded without outputs, failed,
    missing); a compact sorted array of ids marks the files already given.
    """
    seen = array("Q")
    for rel, out_a, out_b in _joined(a.outputs(threads), b.outputs(threads), _folder):
        seen.append(int(layout.file_id(rel), 16))
        yield _diff(rel, a.status(rel), b.status(rel), out_a or {}, out_b or {})
    seen = array("Q", sorted(seen))
    for rel, _, _ in _joined(a.keys(), b.keys(), _same):
        wanted = int(layout.file_id(rel), 16)
        at = bisect.bisect_left(seen, wanted)
        if at == len(seen) or seen[at] != wanted:
            yield _diff(rel, a.status(rel), b.status(rel), {}, {})


def _folder(relative: str) -> str:
    return relative + "/"


def _same(relative: str) -> str:
    return relative


def summarise(diffs: Iterator[FileDiff], keep_identical: bool = False) -> dict[str, Any]:
    """Counts per verdict and the files that are not identical (all of them with keep_identical)."""
    counts = dict.fromkeys(VERDICTS, 0)
    files = []
    for d in diffs:
        counts[d.verdict] += 1
        if keep_identical or d.verdict != "identical":
            files.append(d.to_json())
    return {"summary": {"files": sum(counts.values()), **counts}, "files": files}
