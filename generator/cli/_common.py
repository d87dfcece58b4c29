"""What every command shares: the error boundary, output formats, spec loading."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from minio import Minio

from generator import layout, storage, urls
from generator import spec as spec_mod
from generator.errors import OscarBatchError, SpecError

P = ParamSpec("P")
R = TypeVar("R")


class Format(StrEnum):
    table = "table"
    json = "json"


SpecArg = Annotated[Path, typer.Argument(help="batch spec YAML", show_default=False)]
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
FormatOpt = Annotated[
    Format, typer.Option("--output", "-o", help="table for people, json for scripts")
]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"oscar-batch: {urls.redact(message)}", err=True)
    return typer.Exit(code)


def errors(func: Callable[P, R]) -> Callable[P, R]:
    """The one place library errors become a line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except OscarBatchError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except OSError as exc:  # a folder we were told to write to, a disk that is full
            where = f"{exc.filename}: " if exc.filename else ""
            raise fail(f"{where}{exc.strerror or exc}") from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper


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
    return spec_mod.load(path, extra)


def s3_client(batch: spec_mod.BatchSpec, endpoint: str | None = None) -> Minio:
    """A client for the run's S3: --endpoint, else OSCAR_BATCH_ENDPOINT, else the spec's."""
    url = endpoint or os.environ.get(storage.ENDPOINT_ENV) or batch.input.endpoint
    if not url:
        raise SpecError(
            f"no S3 endpoint: give --endpoint, input.endpoint or {storage.ENDPOINT_ENV}"
        )
    return storage.client_from_env(url, batch.input.region)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
