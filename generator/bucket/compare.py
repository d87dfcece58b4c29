"""Compare two runs file by file: are the outputs identical, different, or on one side only?

Files are matched on their key relative to each spec's input prefix, so two specs over
different prefixes compare too: both indexes are streamed in key order and joined. A file's
outputs are compared by the SHA-256 of each output that the runner recorded in the file's
result when it stored them (bucket/results.py): no output is read to tell whether it
changed. Only the JSON/CSV outputs of the files listed (not identical, or all with --all) are
counted (e.g. detections per image): from the counts the aggregate took while merging
(counts.tsv, by output content), else by reading them, up to `COUNT_LIMIT` bytes, through a
bounded window of threads (with --records PATH, or outputs the aggregate did not merge).
Results of a run are read once into a temporary SQLite file per run, so memory does not grow
with the files.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from generator.bucket import layout, merge, results
from generator.bucket import records as record_count
from generator.bucket.reader import Store
from generator.clients import s3
from generator.errors import StorageError
from generator.spec.model import BatchSpec

COUNT_LIMIT = 16 << 20
T = TypeVar("T")
State = tuple[str, dict[str, str]]  # status, output name -> sha256
VERDICTS = ("identical", "differ", "only_a", "only_b", "neither")


@dataclass(frozen=True)
class Side:
    """One run of a comparison: where it is and its results (close it when done)."""

    store: Store
    spec: BatchSpec
    run: str
    where: layout.RunLayout
    found: results.Results
    counted: sqlite3.Connection  # records per output content, as the aggregate counted them
    records: list[str] | None = None  # where an output's records are (records.parse_path)

    @classmethod
    def open(cls, store: Store, spec: BatchSpec, run: str, records: str | None = None) -> Side:
        where = layout.RunLayout.of(spec, run)
        if store.read(where.plan) is None:
            raise StorageError(f"run {run} has no plan ({where.plan} does not exist)")
        path = None if records is None else record_count.parse_path(records)
        counted = sqlite3.connect("")  # a temporary file: one row per merged output
        counted.execute("CREATE TABLE c (sha TEXT, name TEXT, n INTEGER, PRIMARY KEY (sha, name))")
        if path is None and store.read(where.counts) is not None:
            lines = (line.split("\t", 2) for line in s3.split_lines(store.chunks(where.counts)))
            counted.executemany(
                "INSERT OR IGNORE INTO c VALUES (?, ?, ?)", ((a, c, b) for a, b, c in lines)
            )
        found = results.load(store, where)
        return cls(store, spec, run, where, found, counted, path)

    def close(self) -> None:
        self.found.close()
        self.counted.close()

    def known_records(self, outputs: dict[str, str]) -> int | bool | None:
        """The records of a file's JSON/CSV outputs as the aggregate counted them (None: it has
        none); False when one was not counted (then `records_of` reads them)."""
        total, any_counted = 0, False
        for name, sha in outputs.items():
            if merge.kind(name, ("json", "jsonl", "csv")) is None:
                continue
            row = self.counted.execute(
                "SELECT n FROM c WHERE sha = ? AND name = ?", (sha, name)
            ).fetchone()
            if row is None:
                return False
            total, any_counted = total + row[0], True
        return total if any_counted else None

    def keys(self) -> Iterator[tuple[str, str]]:
        """(key relative to the input prefix, key) of every planned, supported file."""
        for line in s3.split_lines(self.store.chunks(self.where.index)):
            _, _, key, unsupported = layout.parse_index_line(line)
            if not unsupported:
                yield key[len(self.spec.input.prefix) :], key

    def state(self, key: str) -> State:
        """(status, output name -> sha256) of a file.

        Raises:
            StorageError: a succeeded file whose outputs have no recorded hashes.
        """
        got = self.found.get(layout.file_id(key))
        if got is None:
            return "missing", {}  # no result: not planned in this run, or its worker died
        record = got[1]
        if not record.ok:
            return "failed", {}
        if record.hashes is None and record.outputs:
            raise StorageError(
                f"run {self.run}: the result of {key} records no output hashes (results"
                " written before result format 2, or in range mode): compare needs them"
            )
        return "succeeded", dict(record.hashes or ())

    def records_of(self, key: str, names: Iterator[str]) -> int | None:
        """The records of a file's JSON/CSV outputs (None: it has none, or none readable)."""
        rel = key[len(self.spec.input.prefix) :]
        counts = []
        for name in names:
            if merge.kind(name, ("json", "jsonl", "csv")) is None:
                continue
            kept = bytearray()
            for chunk in self.store.chunks(f"{self.where.outputs}{rel}/{name}"):
                kept += chunk
                if len(kept) > COUNT_LIMIT:
                    break
            if len(kept) <= COUNT_LIMIT:
                counts.append(record_count.count(name, bytes(kept), self.records))
        known = [n for n in counts if n is not None]
        return sum(known) if known else None


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


def _diff(relative: str, a: State, b: State) -> FileDiff:
    (status_a, out_a), (status_b, out_b) = a, b
    side_a: dict[str, Any] = {"status": status_a, "outputs": len(out_a), "records": None}
    side_b: dict[str, Any] = {"status": status_b, "outputs": len(out_b), "records": None}
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


def compare(
    a: Side, b: Side, count_identical: bool = False, threads: int = 16
) -> Iterator[FileDiff]:
    """Every planned file of either run with its verdict, in key order; the records of the
    files not identical (of all with count_identical) counted `threads` at a time."""
    missing: State = ("missing", {})

    Listed = tuple[FileDiff, list[tuple[Side, str, list[str]]]]

    def states() -> Iterator[Listed]:
        # the results are read here, in the caller's thread; only the counting is threaded
        for rel, key_a, key_b in _joined(a.keys(), b.keys(), _same):
            state_a = a.state(key_a) if key_a else missing
            state_b = b.state(key_b) if key_b else missing
            diff = _diff(rel, state_a, state_b)
            sides = []
            if diff.verdict != "identical" or count_identical:
                for side, key, (status, names) in ((a, key_a, state_a), (b, key_b, state_b)):
                    if not key or status != "succeeded" or not names:
                        continue
                    known = side.known_records(names)
                    if known is False:
                        sides.append((side, key, list(names)))
                    else:
                        (diff.a if side is a else diff.b)["records"] = known
            yield diff, sides

    def counted(item: Listed) -> FileDiff:
        diff, sides = item
        for side, key, names in sides:
            (diff.a if side is a else diff.b)["records"] = side.records_of(key, iter(names))
        return diff

    return s3.ordered_map(counted, states(), threads)


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
