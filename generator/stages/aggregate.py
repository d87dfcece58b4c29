"""The aggregate stage: account for every planned file and write the run's report.

Every key in the plan's index ends as succeeded, failed (with the reason and the tail of
its log), unsupported (a key no mount can show), or missing (no result: a worker died).
Memory stays bounded whatever the run's size: the index is streamed, results are fetched
through a bounded window, report.csv and the merged tables are written to temporary files
as rows arrive, and report.json keeps only the first `PROBLEMS_SHOWN` problems.

The report separates the run from this attempt (since the latest plan): counts are the
run's, while throughput, file durations (failed and timed-out files included) and the
per-shard figures are this attempt's, so a resume that processed nothing says so.
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minio import Minio

from generator.bucket import layout, merge, rundocs
from generator.bucket import lock as runlock
from generator.bucket.results import ResultIndex, output_groups, parse_result
from generator.clients import s3
from generator.spec.model import BatchSpec
from generator.stages import pages, series

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
    values = {name: getattr(row, name) for name in CSV_FIELDS}
    for name in TEXT_FIELDS:
        values[name] = merge.neutral(values[name])
    return ["" if values[n] is None else values[n] for n in CSV_FIELDS]


def _percentile(ordered: list[float], q: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


@dataclass
class Tally:
    """The report's figures, fed one row at a time (memory: 20 bytes per processed file)."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("succeeded", "failed", "missing", "unsupported"), 0)
    )
    shards: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: array[float] = field(default_factory=lambda: array("d"))
    invocations: array[int] = field(default_factory=lambda: array("q"))
    problems: list[dict[str, Any]] = field(default_factory=list)
    no_output: int = 0
    identities: dict[str, int] = field(default_factory=dict)
    attempt: dict[str, int] = field(default_factory=lambda: {"succeeded": 0, "failed": 0})
    reasons: series.Reasons = field(default_factory=series.Reasons)
    # when each file of this attempt finished, and its shard (a number into `finished_in`)
    finished: array[float] = field(default_factory=lambda: array("d"))
    finished_shard: array[int] = field(default_factory=lambda: array("I"))
    finished_in: dict[str, int] = field(default_factory=dict)

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
        if r.seconds is not None:
            self.seconds.append(r.seconds)
        if r.invocation:
            self.invocations.append(hash(r.invocation))
        if r.shard:
            s = self.shards.setdefault(
                r.shard, {"files": 0, "succeeded": 0, "failed": 0, "seconds": 0.0}
            )
            s["files"] += 1
            s[r.status] += 1
            s["seconds"] = round(s["seconds"] + (r.seconds or 0.0), 3)
            if r.finished is not None:
                self.finished.append(r.finished)
                number = self.finished_in.setdefault(r.shard, len(self.finished_in))
                self.finished_shard.append(number)

    def report(self, spec: BatchSpec, run: str, plan: dict[str, Any], now: float) -> dict[str, Any]:
        planned = sum(self.counts.values())
        bad = planned - self.counts["succeeded"]
        ratio = bad / planned if planned else 0.0
        wall = max(0.0, now - float(plan.get("created", now)))
        processed = self.attempt["succeeded"] + self.attempt["failed"]
        ordered = sorted(self.seconds)
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
            "invocations": len(set(self.invocations)) if self.invocations else None,
            "attempt": {"processed": processed, **self.attempt},
            "wall_seconds": round(wall, 3),
            "throughput_files_per_s": round(processed / wall, 3) if wall > 0 else None,
            "file_seconds": {
                "files": len(ordered),
                "total": round(sum(ordered), 3),
                "mean": round(sum(ordered) / len(ordered), 3) if ordered else None,
                "p50": _percentile(ordered, 0.5),
                "p95": _percentile(ordered, 0.95),
                "max": ordered[-1] if ordered else None,
            },
            "shards": dict(sorted(self.shards.items())),
            "problems_total": bad,
            "problems": self.problems,
            # binned for the page (stages/pages): a few kB whatever the file count
            "timeline": series.timeline(
                self.finished,
                self.finished_shard,
                list(self.finished_in),
                float(plan.get("created", now)),
                {s["id"]: s["files"] for s in plan.get("shards") or []},
            ),
            "durations": series.histogram(ordered),
            "reasons": self.reasons.series(),
        }


def build_report(
    spec: BatchSpec, run: str, plan: dict[str, Any], rows: list[Row], now: float
) -> dict[str, Any]:
    """The report of a list of rows (pure; the stage streams rows through a `Tally`)."""
    tally = Tally()
    for r in rows:
        tally.add(r)
    return tally.report(spec, run, plan, now)


def _row(
    client: Minio,
    spec: BatchSpec,
    where: layout.RunLayout,
    index: ResultIndex,
    started: float,
    line: str,
) -> Row:
    """One planned file's row (its result object fetched when there is one)."""
    fid, size, key, unsupported = layout.parse_index_line(line)
    if unsupported:
        return Row(key=key, status="unsupported", reason=unsupported)
    found = index.find(fid)
    if found is None:
        return Row(key, "missing", size=size, reason="no result: the worker did not finish")
    d = parse_result(
        s3.get_bytes(client, where.bucket, index.key(where, fid, found)).decode("utf-8", "replace")
    )
    return Row(
        key=key,
        status="succeeded" if found.ok else "failed",
        shard=found.shard,
        exit_code=d["exit_code"],
        seconds=d["seconds"],
        # a failed file's outputs are never its outputs, even if stale ones remain
        outputs=outputs_folder(spec, where, key[len(spec.input.prefix) :])
        if found.ok and d["outputs"]
        else "",
        size=size,
        reason="" if found.ok else (d["reason"] or "failed"),
        error="" if found.ok else d["error"],
        stored=d["outputs"],
        invocation=d["invocation"],
        identity=d["identity"],
        this_attempt=found.stamp >= started,
        finished=found.stamp,
    )


def rows(
    client: Minio, spec: BatchSpec, run: str, index: ResultIndex, threads: int = 16
) -> Iterator[Row]:
    """Every planned file's row in index order, fetched `threads` at a time.

    At most 4 x `threads` results are in flight, so memory does not grow with the run.

    Raises:
        StorageError: S3 fails.
    """
    where = layout.RunLayout.of(spec, run)
    # this attempt began when the latest plan was written (by the server's clock, as results)
    started = dict(s3.list_dated(client, where.bucket, where.plan)).get(where.plan, 0.0)
    lines = s3.iter_lines(client, where.bucket, where.index)
    yield from s3.ordered_map(
        lambda line: _row(client, spec, where, index, started, line), lines, threads
    )


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
    index: ResultIndex,
    merger: merge.Merger,
    threads: int = 16,
) -> None:
    """Feed the merger every mergeable output of a succeeded file: one streamed listing of
    `outputs/`, then a GET per output through a bounded window."""
    listing = s3.list_dated(client, where.bucket, where.outputs)
    groups = output_groups(listing, where.outputs, spec.input.prefix, index)
    wanted = ((rel, name) for rel, names in groups for name in names if merger.wants(name))

    def fetch(item: tuple[str, str]) -> tuple[str, str, bytes]:
        rel, name = item
        return rel, name, s3.get_bytes(client, where.bucket, f"{where.outputs}{rel}/{name}")

    for rel, name, data in s3.ordered_map(fetch, wanted, threads):
        merger.add(spec.input.prefix + rel, name, data)


def run_aggregate(
    client: Minio,
    spec: BatchSpec,
    run: str,
    outputs_dir: Path | None = None,
    workflow: str = "",
) -> dict[str, Any]:
    """Write report.json, report.csv and the merged tables, Argo output parameters to
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
    index = ResultIndex.build(s3.list_dated(client, where.bucket, where.results))
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="oscar-batch-aggregate-") as tmp:
        report_csv = Path(tmp) / "report.csv"
        with report_csv.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(CSV_FIELDS)
            for row in rows(client, spec, run, index):
                tally.add(row)
                writer.writerow(csv_cells(row))
        s3.put_file(client, where.bucket, where.report_csv, report_csv, "text/csv")
        merged = None
        if spec.output.merge:
            merger = merge.Merger(Path(tmp), spec.output.merge)
            merge_outputs(client, spec, where, index, merger)
            merged = merger.upload(client, where)
    report = tally.report(spec, run, plan, time.time())
    if plan.get("pending") == 0:
        report = _keep_figures(report, s3.get_optional(client, where.bucket, where.report_json))
    report["merged"] = merged
    report["report"] = f"s3://{where.bucket}/{where.report_json}"
    report["page"] = f"s3://{where.bucket}/{where.report_html}"
    files = {
        "report.json": json.dumps(report, indent=1).encode("utf-8"),
        "report.html": pages.report_page(report).encode("utf-8"),
    }
    # Stored here whatever runs this stage; in a pod, Argo's wait container also uploads the
    # same bytes to the same keys from `outputs_dir` (the aggregate's output artifacts), which
    # is what makes the Argo UI list them and show them inline.
    s3.put_bytes(client, where.bucket, where.report_json, files["report.json"], "application/json")
    s3.put_bytes(client, where.bucket, where.report_html, files["report.html"], "text/html")
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
            (outputs_dir / file).write_bytes(files[file])
    runlock.release_if_mine(client, spec, run, workflow)
    return report


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


def summary_line(report: dict[str, Any]) -> str:
    """One line for logs and the terminal."""
    no_output = report.get("no_output") or 0
    nothing = (report.get("attempt") or {}).get("nothing_to_do")
    return (
        ("nothing to do: " if nothing else "")
        + f"{report['succeeded']}/{report['planned']} succeeded"
        + (f" ({no_output} with no output)" if no_output else "")
        + f", {report['failed']} failed, {report['missing']} missing,"
        f" {report['unsupported']} unsupported; report {report.get('report', '')}"
    )
