"""The `oscar-batch` command line: parses, calls the library, prints.

Errors the user can act on (`OscarBatchError`) become one line on stderr and exit 1;
bad options are one line too and exit 2 (Click's usage errors, reworded by `_Group`).
"""

from __future__ import annotations

import functools
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from generator.cli._common import plain


class _Group(TyperGroup):
    """Usage errors as one line: `oscar-batch runs: missing argument 'SPEC' (see ... -h)`."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # Click's ClickException, vendored by Typer
            if not standalone_mode:
                raise
            message = exc.format_message()
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare command: its help
                sys.stdout.write(message + "\n")
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "oscar-batch"
            message = message.replace("Value error, ", "").rstrip(".")
            sys.stderr.write(
                plain(f"{where}: {message[:1].lower()}{message[1:]} (see {where} -h)") + "\n"
            )
            sys.exit(exc.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            sys.stderr.write("oscar-batch: aborted\n")
            sys.exit(1)
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"oscar-batch {version('oscar-batch')}")
        raise typer.Exit()


def _root() -> typer.Typer:
    root = typer.Typer(
        name="oscar-batch",
        cls=_Group,
        help="Turn 'process every file in this bucket with this OSCAR service' into an Argo"
        " Workflow. Start with `oscar-batch run SPEC --local` (see the README), then"
        " `generate` and `submit` for a cluster.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=False,
        rich_markup_mode=None,  # plain help: wraps at the terminal's width, never cuts a word
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @root.callback()
    def _main(
        show_version: Annotated[
            bool,
            typer.Option(
                "--version", callback=_version, is_eager=True, help="print the version and exit"
            ),
        ] = False,
    ) -> None:
        pass

    return root


@functools.cache
def _stages() -> typer.Typer:
    """Only `stage`: what the plan, aggregate and exit-handler pods run. The other commands'
    imports (Hera, lint, the local cluster, the Argo and Kubernetes clients) are not theirs to
    pay: they would add ~0.4 s to every such pod."""
    from generator.cli import _stage

    app = _root()
    app.add_typer(_stage.app, name="stage")
    return app


@functools.cache
def _everything() -> typer.Typer:
    from generator.cli import (
        _argo,
        _compare,
        _generate,
        _lint,
        _logs,
        _plan,
        _report,
        _run,
        _runs,
        _stage,
    )

    app = _root()
    # the listing of `oscar-batch -h`: one line each, whole at 80 columns
    app.command("run", short_help="Run a spec or workflow YAML on this machine (--local).")(
        _run.run
    )
    app.command("runs", short_help="List a spec's runs: which service made each, counts.")(
        _runs.list_runs
    )
    app.command("report", short_help="Show a run's report: counts, failures, throughput.")(
        _report.report
    )
    app.command("logs", short_help="Print the log a file's script left (failed or not).")(
        _logs.logs
    )
    app.command("compare", short_help="Compare two runs' outputs file by file.")(_compare.compare)
    app.command("generate", short_help="Write the Argo Workflow YAML of a spec.")(
        _generate.generate
    )
    app.command("lint", short_help="Check workflow YAML offline as Argo's validator does.")(
        _lint.lint
    )
    app.command("plan", short_help="Show how wide a run would be on a cluster, and why.")(
        _plan.plan
    )
    app.command("submit", short_help="Submit to Argo (Argo Server, else the Kubernetes API).")(
        _argo.submit
    )
    app.command("watch", short_help="Follow a workflow until it ends (NAME or @latest).")(
        _argo.watch
    )
    app.command("stop", short_help="Stop a workflow as argo stop does (NAME or @latest).")(
        _argo.stop
    )
    app.add_typer(_stage.app, name="stage")
    return app


def __getattr__(name: str) -> Any:
    """`app`, the whole command line (tests, docs), built on first use."""
    if name == "app":
        return _everything()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point."""
    (_stages() if sys.argv[1:2] == ["stage"] else _everything())()
