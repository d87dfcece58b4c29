"""`oscar-batch report`: a finished run's report, read from the bucket."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from generator import layout, storage
from generator.cli._common import (
    Format,
    FormatOpt,
    SetOpt,
    SpecArg,
    errors,
    load_spec,
    print_json,
    s3_client,
)


def show(report: dict[str, Any]) -> None:
    console = Console()
    table = Table(
        title=f"run {report['run']} of {report['service']} over {report['input']}",
        show_header=False,
    )
    for name in ("planned", "succeeded", "failed", "missing", "unsupported", "workers"):
        table.add_row(name, str(report.get(name)))
    table.add_row("wall time", f"{report.get('wall_seconds')} s")
    table.add_row("throughput", f"{report.get('throughput_files_per_s')} files/s")
    table.add_row("outputs", str(report.get("outputs")))
    table.add_row(
        "verdict",
        "passed" if report.get("passed") else f"failed ({report.get('failed_ratio'):.2%} bad)",
    )
    console.print(table)
    problems = report.get("problems") or []
    if problems:
        listing = Table(title=f"{len(problems)} file(s) not processed")
        for col in ("key", "status", "exit", "reason"):
            listing.add_column(col)
        for p in problems[:50]:
            first = (p.get("error") or "").strip().splitlines()[-1:] or [p.get("reason", "")]
            listing.add_row(p["key"], p["status"], str(p.get("exit_code") or ""), first[0][:100])
        console.print(listing)


@errors
def report(
    spec: SpecArg,
    run: Annotated[str | None, typer.Option(help="run name (default: the spec name)")] = None,
    endpoint: Annotated[str | None, typer.Option(help="S3 endpoint (default: the spec's)")] = None,
    output: FormatOpt = Format.table,
    overrides: SetOpt = None,
) -> None:
    """Print a finished run's report.json (keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)."""
    batch = load_spec(spec, overrides)
    where = layout.RunLayout.of(batch, run or batch.name)
    client = s3_client(batch, endpoint)
    data = json.loads(storage.get_bytes(client, where.bucket, where.report_json))
    if output is Format.json:
        print_json(data)
    else:
        show(data)
