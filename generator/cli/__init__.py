"""The `oscar-batch` command line: parses, calls the library, prints.

Errors the user can act on (`OscarBatchError`) become one line on stderr and exit 1;
bad options exit 2 (Typer/Click's usage errors).
"""

from __future__ import annotations

import typer

from generator.cli import (
    _argo,
    _compare,
    _generate,
    _lint,
    _plan,
    _report,
    _run,
    _runs,
    _stage,
)

app = typer.Typer(
    name="oscar-batch",
    help="Turn 'process every file in this bucket with this OSCAR service' into an Argo Workflow.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.command("generate")(_generate.generate)
app.command("lint")(_lint.lint)
app.command("plan")(_plan.plan)
app.command("run")(_run.run)
app.command("submit")(_argo.submit)
app.command("watch")(_argo.watch)
app.command("report")(_report.report)
app.command("runs")(_runs.list_runs)
app.command("compare")(_compare.compare)
app.add_typer(_stage.app, name="stage")


def main() -> None:
    """Console-script entry point."""
    app()
