"""`oscar-batch runs`: the runs of a spec in its output bucket, and which service made each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from generator.bucket import identity, layout, runs
from generator.bucket.reader import Store
from generator.cli._common import (
    SetOpt,
    SpecArg,
    errors,
    load_spec,
    plain,
    write_page,
)
from generator.cli._output import (
    Col,
    Format,
    FormatOpt,
    note,
    print_data,
    print_names,
    rfc3339,
    when,
)
from generator.cli._output import table as print_table
from generator.cli._where import AliasOpt, DataDirOpt, EndpointOpt, output_store
from generator.errors import SpecError, StorageError
from generator.spec.model import BatchSpec
from generator.stages import pages

COLUMNS = (
    Col("run", ident=True),
    Col("created", drop=3),
    Col("files", right=True, drop=1),
    Col("ok", right=True),
    Col("failed", right=True),
    Col("state"),
    Col("service", drop=4),
)


def missing(
    store: Store, batch: BatchSpec, run: str, where: str, what: str, default: bool = False
) -> StorageError:
    """The error for a run without `what` (a plan, a report): which runs there are instead.

    Args:
        where: how the output bucket is named to people (a folder, s3://bucket/).
        default: the run is the spec's default (its service as it is now), not one asked for.
    """
    found = runs.list_runs(store, batch, every_spec=True)
    names = [r.run for r in found]
    if run in names:
        state = next(r.state for r in found if r.run == run)
        return StorageError(f"run {run} has no {what} ({state}); see oscar-batch runs")
    close = [n for n in names if n.startswith(run) or run in n]
    listed = ", ".join(names[-8:]) or "none"
    head = (
        f"the spec's service as it is now has not run yet (its run: {run})"
        if default
        else f"no run {run} in {where}{batch.output.prefix}"
        + (f" (did you mean {' or '.join(close[:3])}?)" if close else "")
    )
    return StorageError(f"{head}; runs there: {listed} (oscar-batch runs lists them)")


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def as_json(r: runs.RunInfo) -> dict[str, Any]:
    return {**r.to_json(), "created": rfc3339(r.created)}


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
        if isinstance(report, dict):
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
    alias: AliasOpt = None,
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
    store, where = output_store(batch, endpoint, data_dir, alias)
    found = runs.list_runs(store, batch, every)
    if html is not None:
        _write_pages(html, store, batch, found, where)
    if output in (Format.json, Format.yaml):
        print_data([as_json(r) for r in found], output)
        return
    if output is Format.name:
        print_names(plain(r.run) for r in found)
        return
    rows = [
        [
            plain(r.run),  # alone in its cell: copied whole, with a double-click too
            when(r.created),
            _count(r.planned),
            _count(r.succeeded),
            _count(r.failed),
            r.state + (" *" if r.current else ""),
            plain(r.reason or r.service),  # an unreadable folder: why
        ]
        for r in found
    ]
    print_table(COLUMNS, rows, output, title=plain(f"runs in {where}{batch.output.prefix}"))
    note(
        "state *: made by the spec's service as it is now (its default run:"
        f" {identity.default_run(batch)})"
    )
