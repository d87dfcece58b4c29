"""`oscar-batch runs`: the runs of a spec in its output bucket, and which service made each."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from generator.bucket import identity, runs
from generator.cli._common import (
    DataDirOpt,
    EndpointOpt,
    Format,
    FormatOpt,
    SetOpt,
    SpecArg,
    errors,
    load_spec,
    output_store,
    print_json,
    shown,
)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


@errors
def list_runs(
    spec: SpecArg,
    every: Annotated[
        bool, typer.Option("--all", help="also runs of other specs under the same prefix")
    ] = False,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: FormatOpt = Format.table,
    overrides: SetOpt = None,
) -> None:
    """List the runs in the output bucket: service identity, date, counts, verdict."""
    batch = load_spec(spec, overrides)
    store, where = output_store(batch, endpoint, data_dir)
    found = runs.list_runs(store, batch, every)
    if output is Format.json:
        print_json([r.to_json() for r in found])
        return
    table = Table(title=shown(f"runs in {where}{batch.output.prefix}"))
    numbers = ("files", "ok", "failed")
    for col in ("run", "date", *numbers, "state"):
        table.add_column(col, justify="right" if col in numbers else "left", no_wrap=col != "run")
    table.add_column("service (image, script, env)", overflow="fold", ratio=1)
    for r in found:
        date = time.strftime("%Y-%m-%d", time.gmtime(r.created)) if r.created else "-"
        name = shown(r.run) + (" *" if r.current else "")
        table.add_row(
            name, date, _count(r.planned), _count(r.succeeded), _count(r.failed), r.state,
            shown(r.reason or r.service),
        )  # fmt: skip
    console = Console()
    console.print(table)
    console.print(
        f"* made by the spec's service as it is now; its default run: {identity.default_run(batch)}"
    )
