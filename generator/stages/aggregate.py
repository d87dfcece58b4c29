"""The aggregate stage: account for every planned file and write the run's report.

Every key in the plan's index ends as succeeded, failed (with the reason and the tail of
its log), unsupported (a key no mount can show), or missing (no result: a worker died).
Memory stays bounded whatever the run's size: result objects (one per group of files) are
fetched through a bounded window into a temporary SQLite file (bucket/results.py), the
index is streamed and each file looked up there, report.csv and the merged tables are
written to temporary files as rows arrive, and report.json keeps only the first
`PROBLEMS_SHOWN` problems.

The report separates the run from this attempt (since the latest plan): counts are the
run's, while throughput, file durations (failed and timed-out files included) and the
per-shard figures are this attempt's, so a resume that processed nothing says so.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from minio import Minio

from generator.bucket import layout, merge, records, rundocs
from generator.bucket import lock as runlock
from generator.bucket import results as results_mod
from generator.bucket.reader import S3Store
from generator.bucket.results import Planned, Results, output_groups
from generator.clients import s3
from generator.spec.model import BatchSpec
from generator.stages import comparing, pagedraw, series

# What the aggregate step exposes as Argo output parameters (files of these names).
CSV_FIELDS = (
    "key",
    "status",
    "shard",
    "exit_code",
    "seconds",
    "outputs",
    "size",
    "reason",
    "error",
)
PROBLEMS_SHOWN = 1000
TEXT_FIELDS = ("key", "outputs", "reason", "error")
TEXT_AT = tuple(CSV_FIELDS.index(name) for name in TEXT_FIELDS)
V = TypeVar("V", int, float)


@dataclass
class Row:
    key: str
    status: str
    shard: str = ""
    exit_code: int | None = None
    seconds: float | None = None
    outputs: str = ""
    size: int = 0
    reason: str = ""
    error: str = ""
    stored: int | None = None  # files the service stored (the result's `outputs N`)
    invocation: str = ""
    identity: str = ""  # the service version that processed it (results of a runner >= 0.2)
    this_attempt: bool = True
    finished: float | None = None  # when its result was stored (S3's last-modified)


def csv_cells(row: Row) -> list[Any]:
    """A report.csv line; text cells neutralised against spreadsheet formulas."""
    cells = [getattr(row, name) for name in CSV_FIELDS]
    for at in TEXT_AT:
        cells[at] = merge.neutral(cells[at])
    return ["" if value is None else value for value in cells]


def csv_line(cells: list[Any]) -> str:
    """One CSV line as csv.writer writes it (quoted when a cell holds a comma, a quote or a line
    break), ten times faster on long cells: report.csv has a 2,000-character log tail per
    failed file."""
    out = []
    for value in cells:
        text = str(value)
        if '"' in text or "," in text or "\n" in text or "\r" in text:
            text = '"' + text.replace('"', '""') + '"'
        out.append(text)
    return ",".join(out) + "\n"


def _percentile(ordered: series.Values[float], q: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


class Figures:
    """This attempt's per-file figures (seconds, invocation, when its result was stored and in
    which shard) in a temporary SQLite file, read back in order for exact percentiles, the
    durations histogram and the timeline: the memory is its page cache, whatever the file
    count (a Python list of 1M floats alone would be 32 MB)."""

    FLUSH = 4096  # rows buffered before one insert

    def __init__(self) -> None:
        # "": a private temporary database on disk, deleted when closed
        self._db = sqlite3.connect("")
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-2000;"
            "PRAGMA temp_store=FILE;"
            "CREATE TABLE f (seconds REAL, invocation TEXT, finished REAL, shard INTEGER);"
        )
        self._rows: list[tuple[float | None, str | None, float | None, int | None]] = []
        self._timed = 0  # rows with seconds
        self._stamped = 0  # rows with a finish time (and a shard)
        self._indexed = False

    def add(
        self, seconds: float | None, invocation: str, finished: float | None, shard: int | None
    ) -> None:
        # NaN as SQLite stores it, NULL (a result line may say "nan"): counted as absent
        if seconds is not None and math.isnan(seconds):
            seconds = None
        if finished is not None and math.isnan(finished):
            finished = shard = None
        self._rows.append((seconds, invocation or None, finished, shard))
        self._timed += seconds is not None
        self._stamped += finished is not None
        if len(self._rows) >= self.FLUSH:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany("INSERT INTO f VALUES (?, ?, ?, ?)", self._rows)
        self._rows.clear()

    def _ready(self) -> sqlite3.Connection:
        self._flush()
        if not self._indexed:
            self._db.execute("CREATE INDEX IF NOT EXISTS f_seconds ON f (seconds)")
            self._indexed = True
        return self._db

    def seconds(self) -> Column[float]:
        """Every file's seconds, in ascending order."""
        return Column(self._ready(), self._timed, "seconds", "seconds")

    def finished(self) -> tuple[Column[float], Column[int]]:
        """When each file's result was stored, and its shard's number, in the order added."""
        db, n = self._ready(), self._stamped
        return Column(db, n, "finished", "rowid"), Column(db, n, "shard", "rowid", "finished")

    def span(self) -> tuple[float, float] | None:
        """The earliest and the latest finish time (None: none)."""
        row = self._ready().execute("SELECT min(finished), max(finished) FROM f").fetchone()
        return None if row[0] is None else (row[0], row[1])

    def invocations(self) -> int:
        """Distinct invocations."""
        return int(self._ready().execute("SELECT count(DISTINCT invocation) FROM f").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class Column(Generic[V]):
    """`size` values of a column of `Figures` (its rows where `present`, by default the
    column, is not null) in the order of `order`; read from the database on each use, never
    held (series.Values)."""

    def __init__(
        self, db: sqlite3.Connection, size: int, name: str, order: str, present: str = ""
    ) -> None:
        self._db = db
        self._len = size
        self._select = f"SELECT {name} FROM f WHERE {present or name} IS NOT NULL ORDER BY {order}"

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, at: int) -> V:
        if at < 0:
            at += self._len
        if not 0 <= at < self._len:
            raise IndexError(at)
        # from the nearer end: the last value is one step away, not len steps
        query, skip = f"{self._select} LIMIT 1 OFFSET ?", at
        if at >= self._len // 2:
            query, skip = f"{self._select} DESC LIMIT 1 OFFSET ?", self._len - 1 - at
        value: V = self._db.execute(query, (skip,)).fetchone()[0]
        return value

    def __iter__(self) -> Iterator[V]:
        return (value for (value,) in self._db.execute(self._select))


@dataclass
class Tally:
    """The report's figures, fed one row at a time: counts, bounded lists (problems, reasons)
    and per-shard sums in memory, per-file figures on disk (`Figures`)."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("succeeded", "failed", "missing", "unsupported"), 0)
    )
    shards: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: Figures = field(default_factory=Figures)
    problems: list[dict[str, Any]] = field(default_factory=list)
    no_output: int = 0
    identities: dict[str, int] = field(default_factory=dict)
    attempt: dict[str, int] = field(default_factory=lambda: {"succeeded": 0, "failed": 0})
    reasons: series.Reasons = field(default_factory=series.Reasons)
    # the shards of this attempt's files, numbered in the order met (the figures keep numbers)
    finished_in: dict[str, int] = field(default_factory=dict)

    def __enter__(self) -> Tally:
        return self

    def __exit__(self, *_: object) -> None:
        self.figures.close()

    def add(self, r: Row) -> None:
        self.counts[r.status] += 1
        if r.status != "succeeded":
            self.reasons.add(r.status, r.reason, r.key)
        if r.status == "succeeded" and r.stored == 0:
            self.no_output += 1
        if r.identity:
            self.identities[r.identity] = self.identities.get(r.identity, 0) + 1
        if r.status != "succeeded" and len(self.problems) < PROBLEMS_SHOWN:
            self.problems.append(
                {
                    "key": r.key,
                    "status": r.status,
                    "exit_code": r.exit_code,
                    "reason": r.reason,
                    "error": r.error,
                }
            )
        if r.status not in ("succeeded", "failed") or not r.this_attempt:
            return
        self.attempt[r.status] += 1
        finished, number = None, None
        if r.shard:
            s = self.shards.setdefault(
                r.shard, {"files": 0, "succeeded": 0, "failed": 0, "seconds": 0.0}
            )
            s["files"] += 1
            s[r.status] += 1
            s["seconds"] = round(s["seconds"] + (r.seconds or 0.0), 3)
            if r.finished is not None:
                finished = r.finished
                number = self.finished_in.setdefault(r.shard, len(self.finished_in))
        self.figures.add(r.seconds, r.invocation, finished, number)

    def report(self, spec: BatchSpec, run: str, plan: dict[str, Any], now: float) -> dict[str, Any]:
        planned = sum(self.counts.values())
        bad = planned - self.counts["succeeded"]
        ratio = bad / planned if planned else 0.0
        wall = max(0.0, now - float(plan.get("created", now)))
        processed = self.attempt["succeeded"] + self.attempt["failed"]
        ordered = self.figures.seconds()
        total = sum(ordered)  # in ascending order, as a sorted list sums
        invocations = self.figures.invocations()
        where = layout.RunLayout.of(spec, run)
        return {
            "run": run,
            "spec": spec.name,
            "service": spec.service.name,
            "identity": (plan.get("identity") or {}).get("id"),
            # files per service version that processed them: more than one after --force
            "identities": dict(sorted(self.identities.items())),
            "input": f"s3://{spec.input.bucket}/{spec.input.prefix}",
            "outputs": outputs_folder(spec, where),
            "planned": planned,
            **self.counts,
            "no_output": self.no_output,
            "failed_ratio": round(ratio, 6),
            "max_failed_ratio": spec.failure.max_failed_ratio,
            "passed": ratio <= spec.failure.max_failed_ratio,
            "workers": plan.get("workers"),
            "mode": getattr(spec.worker, "invoke", "file"),
            "invocations": invocations or None,
            "attempt": {"processed": processed, **self.attempt},
            "wall_seconds": round(wall, 3),
            "throughput_files_per_s": round(processed / wall, 3) if wall > 0 else None,
            "file_seconds": {
                "files": len(ordered),
                "total": round(total, 3),
                "mean": round(total / len(ordered), 3) if ordered else None,
                "p50": _percentile(ordered, 0.5),
                "p95": _percentile(ordered, 0.95),
                "max": ordered[-1] if ordered else None,
            },
            "shards": dict(sorted(self.shards.items())),
            "problems_total": bad,
            "problems": self.problems,
            # binned for the page (stages/pages): a few kB whatever the file count
            "timeline": series.timeline(
                *self.figures.finished(),
                list(self.finished_in),
                float(plan.get("created", now)),
                {s["id"]: s["files"] for s in plan.get("shards") or []},
                self.figures.span(),
            ),
            "durations": series.histogram(ordered),
            "reasons": self.reasons.series(),
        }


def build_report(
    spec: BatchSpec, run: str, plan: dict[str, Any], rows: list[Row], now: float
) -> dict[str, Any]:
    """The report of a list of rows (pure; the stage streams rows through a `Tally`)."""
    with Tally() as tally:
        for r in rows:
            tally.add(r)
        return tally.report(spec, run, plan, now)


def _row(spec: BatchSpec, where: layout.RunLayout, started: float, p: Planned) -> Row:
    """One planned file's row, from its latest result."""
    key, size, at, d = p.key, p.size, p.found, p.record
    if p.unsupported:
        return Row(key=key, status="unsupported", reason=p.unsupported)
    if at is None or d is None:
        return Row(key, "missing", size=size, reason="no result: the worker did not finish")
    return Row(
        key=key,
        status="succeeded" if d.ok else "failed",
        shard=at.shard,
        exit_code=d.exit_code,
        seconds=d.seconds,
        # a failed file's outputs are never its outputs, even if stale ones remain
        outputs=outputs_folder(spec, where, key[len(spec.input.prefix) :])
        if d.ok and d.outputs
        else "",
        size=size,
        reason="" if d.ok else (d.reason or "failed"),
        error="" if d.ok else d.error,
        stored=d.outputs,
        invocation=d.invocation,
        identity=d.identity,
        this_attempt=at.stamp >= started,
        finished=at.stamp,
    )


def rows(client: Minio, spec: BatchSpec, run: str, found: Results) -> Iterator[Row]:
    """Every planned file's row in index order (the index streamed, no request per file).

    Raises:
        StorageError: S3 fails.
    """
    where = layout.RunLayout.of(spec, run)
    # this attempt began when the latest plan was written (by the server's clock, as results)
    started = dict(s3.list_dated(client, where.bucket, where.plan)).get(where.plan, 0.0)
    for planned in found.planned(s3.iter_lines(client, where.bucket, where.index)):
        yield _row(spec, where, started, planned)


def outputs_folder(spec: BatchSpec, where: layout.RunLayout, relative: str = "") -> str:
    """Where a run's outputs are (with `relative`: that input's), as s3:// addresses: its
    run folder's outputs/ in layout run; OSCAR's output paths, shared by all inputs, in
    layout oscar (several separated by a space)."""
    if spec.output.layout == "oscar":
        return " ".join(f"s3://{t.bucket}/{t.prefix}" for t in spec.output.targets)
    return f"s3://{where.bucket}/{where.outputs}{relative + '/' if relative else ''}"


def merge_outputs(
    client: Minio,
    spec: BatchSpec,
    where: layout.RunLayout,
    index: Results,
    merger: merge.Merger,
    counts: IO[str],
    threads: int = 16,
) -> None:
    """Feed the merger every mergeable output of a succeeded file: one streamed listing of
    `outputs/`, then a GET per output through a bounded window. Each output's records are
    counted on the way (`counts`: sha256, count, name lines), for `compare`, which then
    reads no output to count them."""
    listing = s3.list_dated(client, where.bucket, where.outputs)
    groups = output_groups(listing, where.outputs, spec.input.prefix, index)
    wanted = ((rel, name) for rel, names in groups for name in names if merger.wants(name))

    def fetch(item: tuple[str, str]) -> tuple[str, str, bytes]:
        rel, name = item
        return rel, name, s3.get_bytes(client, where.bucket, f"{where.outputs}{rel}/{name}")

    for rel, name, data in s3.ordered_map(fetch, wanted, threads):
        merger.add(spec.input.prefix + rel, name, data)
        n = records.count(name, data)
        if n is not None and "\n" not in name:
            counts.write(f"{hashlib.sha256(data).hexdigest()}\t{n}\t{name}\n")


def run_aggregate(
    client: Minio,
    spec: BatchSpec,
    run: str,
    outputs_dir: Path | None = None,
    workflow: str = "",
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Write report.json, report.csv, report.html, the merged tables and, when the run has a
    predecessor of another service version, compare.html; Argo output parameters and files to
    `outputs_dir`; then release the run's lock if `workflow` (a uid; "" outside one) holds it.

    Raises:
        StorageError: the run has no plan (plan never finished) or S3 fails.
    """
    where = layout.RunLayout.of(spec, run)
    # typed: the run folder is writable from the workers, and a planted plan.json must fail
    # the aggregate with one line, not a traceback on every retry
    name = f"s3://{where.bucket}/{where.plan}"
    data = s3.get_bytes(client, where.bucket, where.plan)
    plan = rundocs.parse(rundocs.Plan, data, name).model_dump(exclude_none=True)
    with (
        results_mod.load(S3Store(client, where.bucket), where) as index,
        tempfile.TemporaryDirectory(prefix="oscar-batch-aggregate-") as tmp,
        Tally() as tally,
    ):
        report_csv = Path(tmp) / "report.csv"
        with report_csv.open("w", encoding="utf-8", newline="") as out:
            out.write(csv_line(list(CSV_FIELDS)))
            for row in rows(client, spec, run, index):
                tally.add(row)
                out.write(csv_line(csv_cells(row)))
        s3.put_file(client, where.bucket, where.report_csv, report_csv, "text/csv")
        merged = None
        if spec.output.merge:
            merger = merge.Merger(Path(tmp), spec.output.merge)
            counted = Path(tmp) / "counts.tsv"
            with counted.open("w", encoding="utf-8") as counts:
                merge_outputs(client, spec, where, index, merger, counts)
            merged = merger.upload(client, where)
            s3.put_file(client, where.bucket, where.counts, counted, "text/tab-separated-values")
        report = tally.report(spec, run, plan, time.time())
    if plan.get("pending") == 0:
        report = _keep_figures(report, s3.get_optional(client, where.bucket, where.report_json))
    report["merged"] = merged
    report["report"] = f"s3://{where.bucket}/{where.report_json}"
    report["page"] = f"s3://{where.bucket}/{where.report_html}"
    files = {
        "report.json": json.dumps(report, indent=1).encode("utf-8"),
        "report.html": pagedraw.page(report),
    }
    # Stored here whatever runs this stage; in a pod, Argo's wait container also uploads the
    # same bytes to the same keys from `outputs_dir` (the aggregate's output artifacts), which
    # is what makes the Argo UI list them and show them inline.
    s3.put_bytes(client, where.bucket, where.report_json, files["report.json"], "application/json")
    s3.put_bytes(client, where.bucket, where.report_html, files["report.html"], "text/html")
    compared = _compare_page(client, spec, run, report["identity"], log)
    if compared is not None:
        files["compare.html"] = compared
        s3.put_bytes(client, where.bucket, where.compare_html, compared, "text/html")
    if outputs_dir is not None:
        outputs_dir.mkdir(parents=True, exist_ok=True)
        params = {
            "processed": report["succeeded"] + report["failed"],
            "succeeded": report["succeeded"],
            "failed": report["failed"],
            "missing": report["missing"] + report["unsupported"],
            "report": report["report"],
            "files_per_second": report["throughput_files_per_s"] or 0,
            "wall_seconds": report["wall_seconds"],
        }
        for name, value in params.items():
            (outputs_dir / name).write_text(str(value), encoding="utf-8")
        for _, file in layout.OUTPUT_ARTIFACTS:
            if file in files:  # the artifacts are optional: Argo skips a file not written
                (outputs_dir / file).write_bytes(files[file])
    runlock.release_if_mine(client, spec, run, workflow)
    return report


def _compare_page(
    client: Minio, spec: BatchSpec, run: str, made_by: str | None, log: Callable[[str], None]
) -> bytes | None:
    """compare.html against the run's predecessor (stages/comparing), or None when there is
    none or it cannot be drawn: the page is an extra, never a reason to fail the report."""
    store = S3Store(client, layout.RunLayout.of(spec, run).bucket)
    try:
        found = comparing.against_predecessor(store, spec, run, made_by)
    except Exception as exc:  # whatever breaks (a planted document, S3, a chart): one line
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log(f"no compare page against the previous run of another service version: {why}")
        return None
    if found is None:
        return None
    before, page = found
    log(f"compare page: {run} against {before} (another service version)")
    return page.encode("utf-8")


# this attempt's figures: a re-run that processed nothing keeps the previous attempt's
ATTEMPT_FIGURES = (
    "workers",
    "invocations",
    "wall_seconds",
    "throughput_files_per_s",
    "file_seconds",
    "shards",
    "timeline",
    "durations",
)


def _keep_figures(report: dict[str, Any], previous: bytes | None) -> dict[str, Any]:
    """The report of an attempt that had nothing to do, with the figures (wall time,
    throughput, durations) of the attempt that processed files, not zeros as if it were the
    run's."""
    try:
        before = json.loads(previous) if previous else {}
    except ValueError:
        before = {}
    if not isinstance(before, dict) or before.get("wall_seconds") is None:
        return report
    kept = {k: before[k] for k in ATTEMPT_FIGURES if k in before}
    return {**report, **kept, "attempt": {**report["attempt"], "nothing_to_do": True}}
