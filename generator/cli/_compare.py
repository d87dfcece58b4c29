"""`oscar-batch compare`: two runs' outputs file by file (identical, differ, one side only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from generator.bucket import compare as compare_mod
from generator.bucket import layout
from generator.cli._common import (
    HtmlOpt,
    SetOpt,
    SpecArg,
    errors,
    load_spec,
    plain,
    write_page,
)
from generator.cli._output import Col, Format, FormatOpt, note, print_data, print_names
from generator.cli._output import table as print_table
from generator.cli._runs import missing
from generator.cli._where import AliasOpt, DataDirOpt, EndpointOpt, output_store
from generator.stages import comparing, series

SHOWN = 50
COLUMNS = (
    Col("file", ident=True),
    Col("verdict"),
    Col("records a", right=True),
    Col("records b", right=True),
    Col("changed outputs", drop=1),
)


def _records(side: dict[str, Any]) -> str:
    return "-" if side["records"] is None else str(side["records"])


def _show(result: dict[str, Any], run_a: str, run_b: str, fmt: Format) -> None:
    s = result["summary"]
    note(
        plain(
            f"a = {run_a}, b = {run_b}: {s['files']} files: {s['identical']} identical,"
            f" {s['differ']} differ, {s['only_a']} only in a, {s['only_b']} only in b,"
            f" {s['neither']} in neither"
        )
    )
    files = result["files"]
    if not files:
        return
    rows = [
        [
            plain(f["file"]),
            f["verdict"] if f["verdict"] != "neither" else f"neither ({f['a']['status']})",
            _records(f["a"]),
            _records(f["b"]),
            plain(", ".join(f["changed"])),
        ]
        for f in files[:SHOWN]
    ]
    print_table(COLUMNS, rows, fmt, title=f"{len(files)} file(s) not identical")
    if len(files) > SHOWN:
        note(f"... and {len(files) - SHOWN} more (-o name or -o json lists them all)")


@errors
def compare(
    spec: SpecArg,
    run_a: Annotated[str, typer.Argument(help="the first run (e.g. the older model's)")],
    run_b: Annotated[str, typer.Argument(help="the second run")],
    spec_b: Annotated[
        Path | None,
        typer.Option(help="the second run's spec, when it differs (another bucket or prefix)"),
    ] = None,
    records: Annotated[
        str | None,
        typer.Option(
            "--records",
            help="where an output's records are, as a JSON path (detections, $.result.boxes);"
            " default: a top-level list, or an object's only list, else 1",
            show_default=False,
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="list identical files too (with -o json)")
    ] = False,
    endpoint: EndpointOpt = None,
    alias: AliasOpt = None,
    data_dir: DataDirOpt = None,
    output: FormatOpt = Format.table,
    html: HtmlOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Compare two runs' outputs per input file by the content hashes their results recorded
    (no output is read again for that), with record counts of the JSON/CSV outputs of the
    files listed (e.g. detections per image). Exit 0 whatever the differences."""
    batch_a = load_spec(spec, overrides)
    batch_b = load_spec(spec_b, overrides) if spec_b else batch_a
    store_a, where_a = output_store(batch_a, endpoint, data_dir, alias)
    store_b, where_b = (
        (store_a, where_a) if spec_b is None else output_store(batch_b, endpoint, data_dir, alias)
    )
    for store, batch, run, where in (
        (store_a, batch_a, run_a, where_a),
        (store_b, batch_b, run_b, where_b),
    ):
        if store.read(layout.RunLayout.of(batch, run).plan) is None:
            raise missing(store, batch, run, where, "plan")
    side_a = compare_mod.Side.open(store_a, batch_a, run_a, records)
    changes = series.Changes()
    try:
        side_b = compare_mod.Side.open(store_b, batch_b, run_b, records)
        try:
            # the page charts every file's records: identical files are counted for it too
            counted = every or html is not None
            diffs = compare_mod.compare(side_a, side_b, count_identical=counted)
            watched = comparing.watched(diffs, changes) if html else diffs
            result = compare_mod.summarise(watched, every)
        finally:
            side_b.close()
    finally:
        side_a.close()
    result = {"a": run_a, "b": run_b, **result}
    if html is not None:
        write_page(html, comparing.page(result["summary"], side_a, side_b, changes))
    if output in (Format.json, Format.yaml):
        print_data(result, output)
    elif output is Format.name:
        print_names(plain(f["file"]) for f in result["files"])
    else:
        _show(result, run_a, run_b, output)
