"""The outputs' records merged into one table: results.jsonl and results.csv in the run folder.

A JSON output holding a list gives one record per item (e.g. one per detection), any other
JSON value one record; a JSONL output one record per line; a CSV output (with a header
row) one record per row. Every record is tagged with the input key and the output's name.
Both tables are written record by record to temporary files and then uploaded, so a run of
a million files never holds a million records. results.csv has the union of the CSV
outputs' columns; that union is only known at the end, hence a second pass over the
temporary file (memory: the distinct headers, not the rows).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from minio import Minio

from generator.bucket import layout
from generator.clients import s3

KEY_COLUMN = "input_key"
OUTPUT_COLUMN = "output"
# OWASP's CSV injection rule: a cell starting with one of these is a formula in a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PROBLEMS_SHOWN = 100  # outputs that could not be merged, listed in the report (all are counted)


class Unmergeable(ValueError):
    """An output whose records cannot be read; the message says why, in one line."""


def neutral(value: str) -> str:
    """A text cell a spreadsheet shows as text (OWASP: prefix a single quote)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def kind(name: str, extensions: tuple[str, ...]) -> str | None:
    """The merge kind of an output file name ("json", "jsonl", "csv"), or None."""
    _, dot, ext = name.rpartition(".")
    ext = ext.lower()
    return ext if dot and ext in extensions else None


def columns(names: Iterable[str]) -> list[str]:
    """Names that overwrite nothing: never a tag column's, never an earlier one's.

    A repeated name (or `input_key`, `output`) becomes `name.1`, `name.2`, ... as pandas
    names duplicate columns, so every value keeps a column of its own.
    """
    taken = {KEY_COLUMN, OUTPUT_COLUMN}
    suffix: dict[str, int] = {}
    out = []
    for name in names:
        unique = name
        while unique in taken:
            suffix[name] = suffix.get(name, 0) + 1
            unique = f"{name}.{suffix[name]}"
        taken.add(unique)
        out.append(unique)
    return out


def _number(text: str) -> float | str:
    # 1e999 parses to inf: keep the text, as for NaN, so results.jsonl stays JSON
    value = float(text)
    return value if math.isfinite(value) else text


def _json(text: str) -> Any:
    """JSON with NaN, Infinity and out-of-range numbers kept as their text (valid JSON)."""
    return json.loads(text, parse_constant=str, parse_float=_number)


def json_records(data: bytes, ext: str) -> list[Any]:
    """The records of a JSON or JSONL output.

    Raises:
        Unmergeable: not UTF-8, not JSON (or a line of a JSONL file is not), nested too deeply.
    """
    at = ""
    try:
        text = data.decode("utf-8")
        if ext != "jsonl":
            value = _json(text)
            return value if isinstance(value, list) else [value]
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            at = f"line {n}: "
            if line.strip():
                out.append(_json(line))
        return out
    except UnicodeDecodeError:
        raise Unmergeable("not UTF-8 text") from None
    except RecursionError:
        raise Unmergeable(f"{at}JSON nested too deeply to merge") from None
    except ValueError as exc:
        raise Unmergeable(f"{at}not JSON: {exc}") from None


def csv_records(data: bytes) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV output; a file without even a header has no records.

    Raises:
        Unmergeable: not UTF-8 text, or not CSV Python reads (e.g. a field over 128 KiB).
    """
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    except UnicodeDecodeError:
        raise Unmergeable("not UTF-8 text") from None
    except csv.Error as exc:
        raise Unmergeable(f"CSV: {exc}") from None
    return (rows[0], rows[1:]) if rows else ([], [])


def tagged(key: str, output: str, record: Any) -> dict[str, Any]:
    """A JSONL record with the input key and output name first; a record's own `input_key` or
    `output` is kept as `input_key.1`, `output.1` (see `columns`)."""
    out: dict[str, Any] = {KEY_COLUMN: key, OUTPUT_COLUMN: output}
    if isinstance(record, dict):
        out.update(zip(columns(record), record.values(), strict=True))
    else:
        out["value"] = record
    return out


def jsonl_lines(key: str, output: str, records: list[Any]) -> list[str]:
    """One output's tagged records as results.jsonl lines.

    Raises:
        Unmergeable: a record nested too deeply to write back.
    """
    try:
        return [json.dumps(tagged(key, output, r), allow_nan=False) + "\n" for r in records]
    except RecursionError:
        raise Unmergeable("JSON nested too deeply to merge") from None


class Merger:
    """Streams tagged records into temporary files; `upload` writes the run's tables.

    An output whose records cannot be read is that output's problem, counted and listed
    (the first `PROBLEMS_SHOWN`) in the figures `upload` returns; the merge goes on.
    """

    def __init__(self, folder: Path, extensions: tuple[str, ...]) -> None:
        self.extensions = extensions
        self.stats = {"files": 0, "records": 0, "unreadable": 0}
        self.problems: list[dict[str, str]] = []
        self._jsonl: IO[str] = open(folder / "results.jsonl", "w", encoding="utf-8")  # noqa: SIM115
        self._rows: IO[str] = open(folder / "csv-rows.jsonl", "w", encoding="utf-8")  # noqa: SIM115
        self._headers: dict[tuple[str, ...], int] = {}
        self._folder = folder
        self._has = {"jsonl": False, "csv": False}

    def wants(self, name: str) -> bool:
        return kind(name, self.extensions) is not None

    def add(self, key: str, name: str, data: bytes) -> None:
        """Merge one output file's records (an unreadable file is counted, not fatal)."""
        ext = kind(name, self.extensions)
        if ext is None:
            return
        try:
            if ext == "csv":
                header, rows = csv_records(data)
                hid = self._headers.setdefault(tuple(columns(header)), len(self._headers))
                for row in rows:
                    self._rows.write(json.dumps([key, name, hid, row]) + "\n")
                records = len(rows)
                self._has["csv"] = self._has["csv"] or bool(rows)
            else:
                lines = jsonl_lines(key, name, json_records(data, ext))
                self._jsonl.writelines(lines)
                records = len(lines)
                self._has["jsonl"] = self._has["jsonl"] or bool(lines)
        except Unmergeable as exc:
            self.stats["unreadable"] += 1
            if len(self.problems) < PROBLEMS_SHOWN:
                self.problems.append({"key": key, "output": name, "reason": str(exc)})
            return
        self.stats["files"] += 1
        self.stats["records"] += records

    def write_csv(self, path: Path) -> None:
        """results.csv from the rows merged so far (after `close`)."""
        # one position per distinct name, looked up in a dict: linear in the columns
        position = {KEY_COLUMN: 0, OUTPUT_COLUMN: 1}
        for header in self._headers:
            for name in header:
                position.setdefault(name, len(position))
        by_id = {hid: [position[c] for c in h] for h, hid in self._headers.items()}
        with (
            path.open("w", encoding="utf-8", newline="") as out,
            (self._folder / "csv-rows.jsonl").open(encoding="utf-8") as rows,
        ):
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow([neutral(name) for name in position])
            for line in rows:
                key, name, hid, row = json.loads(line)
                cells = [""] * len(position)
                cells[0], cells[1] = neutral(key), neutral(name)
                for at, value in zip(by_id[hid], row, strict=False):
                    cells[at] = neutral(value)
                writer.writerow(cells)

    def close(self) -> None:
        """Finish the temporary files (nothing more is added)."""
        self._jsonl.close()
        self._rows.close()

    def upload(self, client: Minio, where: layout.RunLayout) -> dict[str, Any]:
        """Upload the tables that have records; the merge figures for the report."""
        self.close()
        tables = []
        for ext in ("jsonl", "csv"):  # a table of an earlier attempt must not outlive its records
            if not self._has[ext]:
                s3.remove(client, where.bucket, where.merged(ext))
        if self._has["jsonl"]:
            s3.put_file(
                client,
                where.bucket,
                where.merged("jsonl"),
                self._folder / "results.jsonl",
                "application/x-ndjson",
            )
            tables.append(f"s3://{where.bucket}/{where.merged('jsonl')}")
        if self._has["csv"]:
            path = self._folder / "results.csv"
            self.write_csv(path)
            s3.put_file(client, where.bucket, where.merged("csv"), path, "text/csv")
            tables.append(f"s3://{where.bucket}/{where.merged('csv')}")
        return {**self.stats, "problems": self.problems, "tables": tables}
