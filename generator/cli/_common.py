"""What every command shares: the error boundary, output formats, spec loading."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from minio import Minio
from rich.markup import escape

from generator.bucket import layout
from generator.clients import oscar, s3
from generator.errors import OscarBatchError, SpecError
from generator.spec import model as spec_mod
from generator.spec import urls

P = ParamSpec("P")
R = TypeVar("R")


SpecArg = Annotated[
    Path, typer.Argument(help="batch spec YAML", show_default=False, metavar="SPEC")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="override a spec field: key.path=value (repeatable)", show_default=False
    ),
]
SkipOpt = Annotated[
    bool | None,
    typer.Option(
        "--skip-existing/--no-skip-existing",
        help="skip files already processed successfully (spec: worker.skip_existing; default on)",
        show_default=False,
    ),
]
RunOpt = Annotated[
    str | None,
    typer.Option(
        "--run", help="run name (default: spec name + hash of service identity and input)"
    ),
]


Context = Annotated[
    str | None, typer.Option("--context", help="kubeconfig context (as kubectl's --context)")
]
Kubeconfig = Annotated[
    str | None,
    typer.Option("--kubeconfig", help="kubeconfig file (else KUBECONFIG, ~/.kube/config)"),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"oscar-batch: {plain(urls.redact(message))}", err=True)
    return typer.Exit(code)


def errors(func: Callable[P, R]) -> Callable[P, R]:
    """The one place library errors become a line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except OscarBatchError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except BrokenPipeError:  # the reader went away (`| head`): a normal end
            _quiet_stdout()
            raise typer.Exit(0) from None
        except OSError as exc:  # a folder we were told to write to, a disk that is full
            where = f"{exc.filename}: " if exc.filename else ""
            raise fail(f"{where}{exc.strerror or exc}") from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper


def _quiet_stdout() -> None:
    # Python flushes stdout again at exit and would report the closed pipe: point it at
    # /dev/null first (the recipe in the documentation of Python's signal module)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def load_spec(
    path: Path,
    overrides: list[str] | None,
    skip_existing: bool | None = None,
    run: str | None = None,
) -> spec_mod.BatchSpec:
    """The spec with --set overrides and the flags that stand for spec fields applied.

    A --run name is checked first, before anything is started or written.
    """
    if run is not None:
        layout.check_run(run)
    extra = list(overrides or [])
    if skip_existing is not None:
        extra.append(f"worker.skip_existing={str(skip_existing).lower()}")
    return spec_mod.load(path, extra, fetch=oscar.service)


def s3_client(batch: spec_mod.BatchSpec, endpoint: str | None = None) -> Minio:
    """A client for the run's S3: --endpoint, else OSCAR_BATCH_ENDPOINT, else the spec's."""
    url = endpoint or os.environ.get(s3.ENDPOINT_ENV) or batch.input.endpoint
    if not url:
        raise SpecError(f"no S3 endpoint: give --endpoint, input.endpoint or {s3.ENDPOINT_ENV}")
    return s3.client_from_env(url, batch.input.region)


# C0 and C1 control characters and DEL: a key or a service log holding ESC sequences would
# otherwise move the cursor, retitle the terminal or hide text when printed.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(value: object) -> str:
    """Data (keys, node names, logs, Argo messages) with control characters made visible
    as `\\xNN`, so a hostile key cannot drive the terminal when printed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def shown(value: object) -> str:
    """`plain`, with rich markup such as `[/x]` escaped: for data printed through rich."""
    return escape(plain(value))


HtmlOpt = Annotated[
    Path | None,
    typer.Option(
        "--html",
        metavar="FILE",
        help="also write the page the Argo UI shows (self-contained HTML) to FILE",
        show_default=False,
    ),
]


def write_page(path: Path, page: str) -> None:
    """Write an HTML page and say where (stderr: stdout stays the table or the JSON)."""
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}") from None
    typer.echo(f"page written to {plain(path)}", err=True)
