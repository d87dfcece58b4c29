"""`oscar-batch compare`: two runs' outputs file by file (identical, differ, one side only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from generator.bucket import compare as compare_mod
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

SHOWN = 50


def _outputs(side: dict[str, Any]) -> str:
    return str(side["outputs"]) if side["status"] == "succeeded" else "-"


def _show(result: dict[str, Any], run_a: str, run_b: str) -> None:
    console = Console()
    s = result["summary"]
    console.print(
        shown(
            f"{run_a} vs {run_b}: {s['files']} files: {s['identical']} identical,"
            f" {s['differ']} differ, {s['only_a']} only in {run_a}, {s['only_b']} only in"
            f" {run_b}, {s['neither']} in neither"
        )
    )
    files = result["files"]
    if not files:
        return
    table = Table(title=f"{len(files)} file(s) not identical")
    for col in ("file", "verdict", f"outputs {run_a}", f"outputs {run_b}", "changed outputs"):
        table.add_column(shown(col))
    for f in files[:SHOWN]:
        table.add_row(
            shown(f["file"]),
            f["verdict"] if f["verdict"] != "neither" else f"neither ({f['a']['status']})",
            _outputs(f["a"]),
            _outputs(f["b"]),
            shown(", ".join(f["changed"])[:60]),
        )
    console.print(table)
    if len(files) > SHOWN:
        console.print(f"... and {len(files) - SHOWN} more (-o json lists them all)")


@errors
def compare(
    spec: SpecArg,
    run_a: Annotated[str, typer.Argument(help="the first run (e.g. the older model's)")],
    run_b: Annotated[str, typer.Argument(help="the second run")],
    spec_b: Annotated[
        Path | None,
        typer.Option(help="the second run's spec, when it differs (another bucket or prefix)"),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="list identical files too (with -o json)")
    ] = False,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: FormatOpt = Format.table,
    overrides: SetOpt = None,
) -> None:
    """Compare two runs' outputs per input file by the content hashes their results recorded
    (no output is read again). Exit 0 whatever the differences."""
    batch_a = load_spec(spec, overrides)
    batch_b = load_spec(spec_b, overrides) if spec_b else batch_a
    store_a, _ = output_store(batch_a, endpoint, data_dir)
    store_b = store_a if spec_b is None else output_store(batch_b, endpoint, data_dir)[0]
    side_a = compare_mod.Side.open(store_a, batch_a, run_a)
    try:
        side_b = compare_mod.Side.open(store_b, batch_b, run_b)
        try:
            diffs = compare_mod.compare(side_a, side_b)
            result = compare_mod.summarise(diffs, keep_identical=every)
        finally:
            side_b.close()
    finally:
        side_a.close()
    result = {"a": run_a, "b": run_b, **result}
    if output is Format.json:
        print_json(result)
    else:
        _show(result, run_a, run_b)
