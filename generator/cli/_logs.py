"""`oscar-batch logs`: the log tail a file's script left in a run (a success's warnings too)."""

from __future__ import annotations

import difflib
import sys
from enum import StrEnum
from typing import Annotated

import typer

from generator.bucket import identity, layout, results
from generator.bucket.reader import Store
from generator.cli._common import RunOpt, SetOpt, SpecArg, errors, load_spec, plain
from generator.cli._output import Format, print_data
from generator.cli._runs import missing
from generator.cli._where import AliasOpt, DataDirOpt, EndpointOpt, output_store
from generator.clients import s3
from generator.errors import StorageError


class LogFormat(StrEnum):
    text = "text"
    json = "json"
    yaml = "yaml"


def _planned(store: Store, where: layout.RunLayout) -> list[str]:
    lines = s3.split_lines(store.chunks(where.index))
    return [layout.parse_index_line(line)[2] for line in lines if line]


def _key(keys: list[str], key: str, prefix: str, run: str) -> str:
    """The planned key meant (a key relative to the input prefix is one too)."""
    for candidate in (key, prefix + key):
        if candidate in keys:
            return candidate
    close = difflib.get_close_matches(key, keys, n=1) or difflib.get_close_matches(
        prefix + key, keys, n=1
    )
    hint = f" (did you mean {plain(close[0])}?)" if close else ""
    raise StorageError(f"run {run} planned no file {plain(key)}{hint}")


@errors
def logs(
    spec: SpecArg,
    key: Annotated[str, typer.Argument(help="the input file's key (or its path under the prefix)")],
    run: RunOpt = None,
    endpoint: EndpointOpt = None,
    alias: AliasOpt = None,
    data_dir: DataDirOpt = None,
    output: Annotated[
        LogFormat, typer.Option("--output", "-o", help="text (the log as written), json or yaml")
    ] = LogFormat.text,
    overrides: SetOpt = None,
) -> None:
    """Print the last 2,000 bytes a file's script wrote (stdout and stderr) in its latest
    result: a failure's error, a success's warnings."""
    batch = load_spec(spec, overrides)
    name = run or identity.default_run(batch)
    where = layout.RunLayout.of(batch, name)
    store, bucket = output_store(batch, endpoint, data_dir, alias)
    if store.read(where.plan) is None:
        raise missing(store, batch, name, bucket, "plan", default=run is None)
    key = _key(_planned(store, where), key, batch.input.prefix, name)
    found = results.log(store, batch, name, key)
    if found is None:
        raise StorageError(f"{plain(key)} has no result in run {name} yet (missing)")
    record, text = found
    if output is not LogFormat.text:
        status = "succeeded" if record.ok else "failed"
        data = {"key": key, "run": name, "status": status, "exit_code": record.exit_code}
        print_data({**data, "reason": record.reason, "log": text}, Format(output.value))
        return
    for line in text.splitlines():
        sys.stdout.write(plain(line) + "\n")
