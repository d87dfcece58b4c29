"""The aggregate stage: account for every planned file and write the run's report.

Every key in the plan's index ends as succeeded, failed (with the reason and the tail of
its log), unsupported (a key no mount can show), or missing (no result: a worker died).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from minio import Minio

from generator import layout, storage
from generator.spec import BatchSpec

# What the aggregate step exposes as Argo output parameters (files of these names).
OUTPUT_PARAMETERS = ("processed", "succeeded", "failed", "missing", "report")
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


def parse_result(text: str) -> dict[str, Any]:
    """A runner result object: `name value` lines, then `--` and the log tail."""
    head, _, tail = text.partition("\n--\n")
    fields: dict[str, Any] = {}
    for line in head.splitlines():
        name, _, value = line.partition(" ")
        fields[name] = value
    out: dict[str, Any] = {"error": tail.strip()[-2000:]}
    for name, cast in (("exit_code", int), ("seconds", float), ("outputs", int)):
        try:
            out[name] = cast(fields[name])
        except (KeyError, ValueError):
            out[name] = None
    out["reason"] = fields.get("reason", "")
    return out


def parse_index_line(line: str) -> tuple[str, int, str, str]:
    """(id, size, key, why unsupported or "") of an index.tsv line (see `planner.write_plan`).

    The key comes last and may hold tabs; an unsupported key is written as JSON (it may hold
    line breaks) followed by the reason.
    """
    fid, size, key = line.split("\t", 2)
    if fid == "-":
        text, reason = key.rsplit("\t", 1)
        return fid, int(size), json.loads(text), reason
    return fid, int(size), key, ""


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_report(
    spec: BatchSpec, run: str, plan: dict[str, Any], rows: list[Row], now: float
) -> dict[str, Any]:
    """Counts, durations, throughput and a per-shard summary (pure)."""
    counts = {s: 0 for s in ("succeeded", "failed", "missing", "unsupported")}
    per_shard: dict[str, dict[str, Any]] = {}
    for r in rows:
        counts[r.status] += 1
        if r.shard:
            s = per_shard.setdefault(
                r.shard, {"files": 0, "succeeded": 0, "failed": 0, "seconds": 0.0}
            )
            s["files"] += 1
            s[r.status] = s.get(r.status, 0) + 1
            s["seconds"] = round(s["seconds"] + (r.seconds or 0.0), 3)
    planned = len(rows)
    seconds = [r.seconds for r in rows if r.status == "succeeded" and r.seconds is not None]
    wall = max(0.0, now - float(plan.get("created", now)))
    bad = counts["failed"] + counts["missing"] + counts["unsupported"]
    ratio = bad / planned if planned else 0.0
    where = layout.RunLayout.of(spec, run)
    return {
        "run": run,
        "spec": spec.name,
        "service": spec.service.name,
        "input": f"s3://{spec.input.bucket}/{spec.input.prefix}",
        "outputs": f"s3://{where.bucket}/{where.outputs}",
        "planned": planned,
        **counts,
        "failed_ratio": round(ratio, 6),
        "max_failed_ratio": spec.failure.max_failed_ratio,
        "passed": ratio <= spec.failure.max_failed_ratio,
        "workers": plan.get("workers"),
        "wall_seconds": round(wall, 3),
        "throughput_files_per_s": round(counts["succeeded"] / wall, 3) if wall > 0 else None,
        "file_seconds": {
            "total": round(sum(seconds), 3),
            "mean": round(statistics.fmean(seconds), 3) if seconds else None,
            "p50": _percentile(seconds, 0.5),
            "p95": _percentile(seconds, 0.95),
            "max": max(seconds, default=0.0),
        },
        "shards": dict(sorted(per_shard.items())),
        "problems": [
            {
                "key": r.key,
                "status": r.status,
                "exit_code": r.exit_code,
                "reason": r.reason,
                "error": r.error,
            }
            for r in rows
            if r.status != "succeeded"
        ],
    }


def to_csv(rows: list[Row]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(asdict(r))
    return buf.getvalue()


def collect_rows(
    client: Minio, spec: BatchSpec, run: str, threads: int = 16
) -> tuple[dict[str, Any], list[Row]]:
    """Read the plan, the index and every result of a run into one row per planned file.

    Raises:
        StorageError: the run has no plan (plan never finished) or S3 fails.
    """
    where = layout.RunLayout.of(spec, run)
    plan = json.loads(storage.get_bytes(client, where.bucket, where.plan))
    found: dict[str, tuple[str, str, str]] = {}
    for key, _ in storage.list_objects(client, where.bucket, where.results):
        parsed = layout.parse_result_key(key)
        if parsed is None:
            continue
        shard, fid, status = parsed
        if status == "ok" or found.get(fid, ("", "", ""))[1] != "ok":
            found[fid] = (shard, status, key)

    def fetch(item: tuple[str, tuple[str, str, str]]) -> tuple[str, dict[str, Any]]:
        fid, (_, _, key) = item
        return fid, parse_result(
            storage.get_bytes(client, where.bucket, key).decode("utf-8", "replace")
        )

    with ThreadPoolExecutor(threads) as pool:
        details = dict(pool.map(fetch, found.items()))
    rows: list[Row] = []
    prefix_len = len(spec.input.prefix)
    for line in storage.iter_lines(client, where.bucket, where.index):
        fid, size, key, unsupported = parse_index_line(line)
        if unsupported:
            rows.append(Row(key=key, status="unsupported", reason=unsupported))
            continue
        if fid not in found:
            rows.append(
                Row(
                    key=key,
                    status="missing",
                    size=size,
                    reason="no result: the worker did not finish",
                )
            )
            continue
        shard, status, _ = found[fid]
        d = details[fid]
        ok = status == "ok"
        rows.append(
            Row(
                key=key,
                status="succeeded" if ok else "failed",
                shard=shard,
                exit_code=d["exit_code"],
                seconds=d["seconds"],
                outputs=f"s3://{where.bucket}/{where.outputs}{key[prefix_len:]}/"
                if ok and d["outputs"]
                else "",
                size=size,
                reason="" if ok else (d["reason"] or "failed"),
                error="" if ok else d["error"],
            )
        )
    return plan, rows


def run_aggregate(
    client: Minio, spec: BatchSpec, run: str, outputs_dir: Path | None = None
) -> dict[str, Any]:
    """Write report.json and report.csv, and Argo output parameters to `outputs_dir`."""
    where = layout.RunLayout.of(spec, run)
    plan, rows = collect_rows(client, spec, run)
    report = build_report(spec, run, plan, rows, time.time())
    report["report"] = f"s3://{where.bucket}/{where.report_json}"
    storage.put_bytes(
        client, where.bucket, where.report_csv, to_csv(rows).encode("utf-8"), "text/csv"
    )
    storage.put_bytes(
        client,
        where.bucket,
        where.report_json,
        json.dumps(report, indent=1).encode("utf-8"),
        "application/json",
    )
    if outputs_dir is not None:
        outputs_dir.mkdir(parents=True, exist_ok=True)
        params = {
            "processed": report["succeeded"] + report["failed"],
            "succeeded": report["succeeded"],
            "failed": report["failed"],
            "missing": report["missing"] + report["unsupported"],
            "report": report["report"],
        }
        for name, value in params.items():
            (outputs_dir / name).write_text(str(value), encoding="utf-8")
    return report


def summary_line(report: dict[str, Any]) -> str:
    """One line for logs and the terminal."""
    return (
        f"{report['succeeded']}/{report['planned']} succeeded, {report['failed']} failed,"
        f" {report['missing']} missing, {report['unsupported']} unsupported;"
        f" report {report.get('report', '')}"
    )
