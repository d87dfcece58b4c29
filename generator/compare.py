"""Compare two runs file by file: are the outputs identical, different, or on one side only?

The two runs' index.tsv files are streamed side by side (both sorted by key) and joined on
the key relative to each spec's input prefix, so two specs over different prefixes compare
too. Each output is hashed (SHA-256) from a stream: S3 ETags are not content hashes for
multipart uploads, and nothing is downloaded whole except JSON/CSV outputs up to
`COUNT_LIMIT` bytes, whose records are counted (e.g. detections per image). Results are
looked up in a compact `ResultIndex` per run; the per-file work runs through a bounded
window of threads, so memory does not grow with the number of files that are identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from generator import layout, merge, storage
from generator.aggregate import parse_index_line
from generator.errors import StorageError
from generator.results import ResultIndex
from generator.spec import BatchSpec
from generator.store import Store

COUNT_LIMIT = 16 << 20
VERDICTS = ("identical", "differ", "only_a", "only_b", "neither")


@dataclass(frozen=True)
class Side:
    """One run of a comparison: where it is and its results."""

    store: Store
    spec: BatchSpec
    run: str
    where: layout.RunLayout
    index: ResultIndex

    @classmethod
    def open(cls, store: Store, spec: BatchSpec, run: str) -> Side:
        where = layout.RunLayout.of(spec, run)
        if store.read(where.plan) is None:
            raise StorageError(f"run {run} has no plan ({where.plan} does not exist)")
        return cls(store, spec, run, where, ResultIndex.build(store.listing(where.results)))

    def keys(self) -> Iterator[tuple[str, str]]:
        """(key relative to the input prefix, key) of every planned, supported file."""
        for line in storage.split_lines(self.store.chunks(self.where.index)):
            _, _, key, unsupported = parse_index_line(line)
            if not unsupported:
                yield key[len(self.spec.input.prefix) :], key

    def status(self, key: str | None) -> str:
        if key is None:
            return "absent"
        found = self.index.find(layout.file_id(key))
        if found is None:
            return "missing"
        return "succeeded" if found.ok else "failed"

    def outputs(self, relative: str) -> dict[str, tuple[str, int | None]]:
        """name -> (sha256, records or None) of what the service stored for one file."""
        folder = f"{self.where.outputs}{relative}/"
        out = {}
        for key, _ in self.store.listing(folder):
            digest = hashlib.sha256()
            kept = bytearray()
            countable = merge.kind(key, ("json", "jsonl", "csv")) is not None
            for chunk in self.store.chunks(key):
                digest.update(chunk)
                if countable and len(kept) <= COUNT_LIMIT:
                    kept += chunk
            name = key[len(folder) :]
            records = (
                merge.count(name, bytes(kept)) if countable and len(kept) <= COUNT_LIMIT else None
            )
            out[name] = (digest.hexdigest(), records)
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


def _records(outputs: dict[str, tuple[str, int | None]]) -> int | None:
    counts = [n for _, n in outputs.values() if n is not None]
    return sum(counts) if counts else None


def _one(a: Side, b: Side, relative: str, key_a: str | None, key_b: str | None) -> FileDiff:
    status_a, status_b = a.status(key_a), b.status(key_b)
    out_a = a.outputs(relative) if status_a == "succeeded" else {}
    out_b = b.outputs(relative) if status_b == "succeeded" else {}
    side_a = {"status": status_a, "outputs": len(out_a), "records": _records(out_a)}
    side_b = {"status": status_b, "outputs": len(out_b), "records": _records(out_b)}
    ok_a, ok_b = status_a == "succeeded", status_b == "succeeded"
    if ok_a and ok_b:
        changed = sorted(n for n in set(out_a) | set(out_b) if out_a.get(n) != out_b.get(n))
        return FileDiff(relative, "differ" if changed else "identical", side_a, side_b, changed)
    verdict = "only_a" if ok_a else "only_b" if ok_b else "neither"
    return FileDiff(relative, verdict, side_a, side_b)


def _joined(a: Side, b: Side) -> Iterator[tuple[str, str | None, str | None]]:
    """Both runs' files in order of relative key; None where a run did not plan the file."""
    left, right = a.keys(), b.keys()
    la, lb = next(left, None), next(right, None)
    while la is not None or lb is not None:
        if lb is None or (la is not None and la[0] < lb[0]):
            assert la is not None
            yield la[0], la[1], None
            la = next(left, None)
        elif la is None or lb[0] < la[0]:
            yield lb[0], None, lb[1]
            lb = next(right, None)
        else:
            yield la[0], la[1], lb[1]
            la, lb = next(left, None), next(right, None)


def compare(a: Side, b: Side, threads: int = 16) -> Iterator[FileDiff]:
    """Every file of either run with its verdict, in key order."""
    return storage.ordered_map(lambda item: _one(a, b, *item), _joined(a, b), threads)


def summarise(diffs: Iterator[FileDiff], keep_identical: bool = False) -> dict[str, Any]:
    """Counts per verdict and the files that are not identical (all of them with keep_identical)."""
    counts = dict.fromkeys(VERDICTS, 0)
    files = []
    for d in diffs:
        counts[d.verdict] += 1
        if keep_identical or d.verdict != "identical":
            files.append(d.to_json())
    return {"summary": {"files": sum(counts.values()), **counts}, "files": files}
