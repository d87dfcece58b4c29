"""`oscar-batch runs`: the runs of a spec in its output bucket, and which service made each."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from generator.bucket import identity, layout, runs
from generator.bucket.reader import Store
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
    write_page,
)
from generator.errors import SpecError
from generator.spec.model import BatchSpec
from generator.stages import pages


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _write_pages(
    folder: Path, store: Store, batch: BatchSpec, found: list[runs.RunInfo], where: str
) -> None:
    """Each run's page (drawn from its report.json) and an index.html linking them."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpecError(f"cannot make {folder}: {exc.strerror or exc}") from None
    drawn = set()
    for r in found:
        data = store.read(layout.RunLayout.of(batch, r.run).report_json)
        if data is None:
            continue
        try:
            report = json.loads(data)
        except ValueError:
            continue  # listed as it is, without a page
        (folder / f"{r.run}.html").write_text(pages.report_page(report), encoding="utf-8")
        drawn.add(r.run)
    index = pages.runs_page(f"{where}{batch.output.prefix}", [r.to_json() for r in found], drawn)
    write_page(folder / "index.html", index)


@errors
def list_runs(
    spec: SpecArg,
    every: Annotated[
        bool, typer.Option("--all", help="also runs of other specs under the same prefix")
    ] = False,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: FormatOpt = Format.table,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="DIR",
            help="also write each run's page and an index.html linking them into DIR",
            show_default=False,
        ),
    ] = None,
    overrides: SetOpt = None,
) -> None:
    """List the runs in the output bucket: service identity, date, counts, verdict."""
    batch = load_spec(spec, overrides)
    store, where = output_store(batch, endpoint, data_dir)
    found = runs.list_runs(store, batch, every)
    if html is not None:
        _write_pages(html, store, batch, found, where)
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
            shown(r.service),
        )  # fmt: skip
    console = Console()
    console.print(table)
    console.print(
        f"* made by the spec's service as it is now; its default run: {identity.default_run(batch)}"
    )
