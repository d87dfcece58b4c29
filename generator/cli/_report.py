"""`oscar-batch report`: a finished run's report, read from the bucket or a local run's folder."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from generator.bucket import identity, layout, rundocs
from generator.cli._common import (
    DataDirOpt,
    EndpointOpt,
    Format,
    FormatOpt,
    RunOpt,
    SetOpt,
    SpecArg,
    errors,
    load_spec,
    output_store,
    print_json,
    shown,
)
from generator.errors import StorageError


def show(report: dict[str, Any]) -> None:
    console = Console()
    table = Table(
        title=shown(f"run {report['run']} of {report['service']} over {report['input']}"),
        show_header=False,
    )
    for name in ("planned", "succeeded", "failed", "missing", "unsupported"):
        table.add_row(name, str(report.get(name)))
    if report.get("no_output"):
        table.add_row("no output", f"{report['no_output']} succeeded file(s) stored nothing")
    versions = report.get("identities") or {}
    if len(versions) > 1:  # a forced resume mixed service versions
        table.add_row(
            "service versions", shown(", ".join(f"{k}: {n} file(s)" for k, n in versions.items()))
        )
    table.add_row("workers", str(report.get("workers")))
    if report.get("mode"):
        invocations = report.get("invocations")
        table.add_row(
            "mode",
            shown(report["mode"]) + (f", {invocations} invocation(s)" if invocations else ""),
        )
    attempt = report.get("attempt") or {}
    if attempt:
        table.add_row(
            "this attempt",
            f"{attempt.get('processed')} processed ({attempt.get('succeeded')} succeeded,"
            f" {attempt.get('failed')} failed)",
        )
    table.add_row("wall time", f"{report.get('wall_seconds')} s")
    rate = report.get("throughput_files_per_s")
    table.add_row("throughput", "-" if rate is None else f"{rate} files/s")
    durations = report.get("file_seconds") or {}
    if durations.get("mean") is not None:
        table.add_row(
            "file seconds",
            f"mean {durations['mean']}, p50 {durations.get('p50')}, p95 {durations.get('p95')},"
            f" max {durations.get('max')}",
        )
    table.add_row("outputs", shown(report.get("outputs")))
    merged = report.get("merged") or {}
    for where in merged.get("tables") or []:
        table.add_row("merged", shown(where))
    if merged.get("unreadable"):
        table.add_row(
            "not merged",
            f"{merged['unreadable']} output(s) unreadable (report.json: merged.problems)",
        )
    table.add_row(
        "verdict",
        "passed" if report.get("passed") else f"failed ({report.get('failed_ratio'):.2%} bad)",
    )
    console.print(table)
    problems = report.get("problems") or []
    if problems:
        total = report.get("problems_total", len(problems))
        listing = Table(title=f"{total} file(s) not processed")
        for col in ("key", "status", "exit", "reason"):
            listing.add_column(col)
        for p in problems[:50]:
            first = (p.get("error") or "").strip().splitlines()[-1:] or [p.get("reason", "")]
            listing.add_row(
                shown(p["key"]),
                shown(p["status"]),
                str(p.get("exit_code") or ""),
                shown(first[0][:100]),
            )
        console.print(listing)
        if total > 50:
            console.print(f"... and {total - 50} more in report.csv")


@errors
def report(
    spec: SpecArg,
    run: RunOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: FormatOpt = Format.table,
    overrides: SetOpt = None,
) -> None:
    """Print a finished run's report.json (keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)."""
    batch = load_spec(spec, overrides)
    where = layout.RunLayout.of(batch, run or identity.default_run(batch))
    store, name = output_store(batch, endpoint, data_dir)
    data = store.read(where.report_json)
    if data is None:
        raise StorageError(f"{name}{where.report_json} does not exist")
    rundocs.parse(rundocs.Report, data, f"{name}{where.report_json}")  # types checked
    parsed = json.loads(data)
    if output is Format.json:
        print_json(parsed)
    else:
        show(parsed)
