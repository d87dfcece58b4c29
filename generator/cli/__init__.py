"""The `oscar-batch` command line: parses, calls the library, prints.

Errors the user can act on (`OscarBatchError`) become one line on stderr and exit 1;
bad options are one line too and exit 2 (Click's usage errors, reworded by `_Group`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib
import os
import sys
import threading
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


# (command, its module, its function, the listing of `oscar-batch -h`: one line each, whole at
# 80 columns)
COMMANDS = [
    ("run", "_run", "run", "Run a spec or workflow YAML on this machine (--local)."),
    ("runs", "_runs", "list_runs", "List a spec's runs: which service made each, counts."),
    ("report", "_report", "report", "Show a run's report: counts, failures, throughput."),
    ("logs", "_logs", "logs", "Print the log a file's script left (failed or not)."),
    ("compare", "_compare", "compare", "Compare two runs' outputs file by file."),
    ("generate", "_generate", "generate", "Write the Argo Workflow YAML of a spec."),
    ("lint", "_lint", "lint", "Check workflow YAML offline as Argo's validator does."),
    ("plan", "_plan", "plan", "Show how wide a run would be on a cluster, and why."),
    ("submit", "_argo", "submit", "Submit to Argo (Argo Server, else the Kubernetes API)."),
    ("watch", "_argo", "watch", "Follow a workflow until it ends (NAME or @latest)."),
    ("stop", "_argo", "stop", "Stop a workflow as argo stop does (NAME or @latest)."),
]


@functools.cache
def _app(only: str | None = None) -> typer.Typer:
    """The command line; with `only`, that command alone, which parses and helps the same: the
    others' imports (Hera, lint, the local cluster, the Argo and Kubernetes clients) are not
    its to pay. A pod's `oscar-batch stage ...` (plan, aggregate, exit handler) starts ~0.4 s
    sooner, `run` ~0.2 s."""
    app = _root()
    for name, module, function, short in COMMANDS:
        if only in (None, name):
            command = getattr(importlib.import_module(f"generator.cli.{module}"), function)
            app.command(name, short_help=short)(command)
    if only in (None, "stage"):
        from generator.cli import _stage

        app.add_typer(_stage.app, name="stage")
    return app


def __getattr__(name: str) -> Any:
    """`app`, the whole command line (tests, docs), built on first use."""
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point.

    Once the command is done, this process ends as a normal exit would (other threads awaited,
    exit handlers run, output flushed) but without the interpreter's teardown, which frees
    every module and object one by one: 0.2-0.6 s of CPU after `run --local`, and ~0.15 s at
    the end of each plan, aggregate and exit-handler pod.
    """
    first = sys.argv[1] if len(sys.argv) > 1 else None
    try:
        _app(first if first in {"stage", *(c[0] for c in COMMANDS)} else None)()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")  # as SystemExit("message") prints it
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a reader that went away (`| head`)
            stream.flush()
    os._exit(code or 0)
