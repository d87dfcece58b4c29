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
from pathlib import Path
from typing import IO, Any

from minio import Minio

from generator.bucket import layout
from generator.clients import s3

KEY_COLUMN = "input_key"
OUTPUT_COLUMN = "output"
# OWASP's CSV injection rule: a cell starting with one of these is a formula in a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: str) -> str:
    """A text cell a spreadsheet shows as text (OWASP: prefix a single quote)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def kind(name: str, extensions: tuple[str, ...]) -> str | None:
    """The merge kind of an output file name ("json", "jsonl", "csv"), or None."""
    _, dot, ext = name.rpartition(".")
    ext = ext.lower()
    return ext if dot and ext in extensions else None


def json_records(data: bytes, ext: str) -> list[Any]:
    """The records of a JSON or JSONL output.

    Raises:
        ValueError: not JSON (or a line of a JSONL file is not).
    """
    text = data.decode("utf-8")
    if ext == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    value = json.loads(text)
    return value if isinstance(value, list) else [value]


def csv_records(data: bytes) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV output; a file without even a header has no records.

    Raises:
        ValueError: not UTF-8 text.
    """
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return (rows[0], rows[1:]) if rows else ([], [])


def tagged(key: str, output: str, record: Any) -> dict[str, Any]:
    """A JSONL record with the input key and output name first (they win over the record's)."""
    out: dict[str, Any] = {KEY_COLUMN: key, OUTPUT_COLUMN: output}
    if isinstance(record, dict):
        out.update((k, v) for k, v in record.items() if k not in out)
    else:
        out["value"] = record
    return out


class Merger:
    """Streams tagged records into temporary files; `upload` writes the run's tables."""

    def __init__(self, folder: Path, extensions: tuple[str, ...]) -> None:
        self.extensions = extensions
        self.stats = {"files": 0, "records": 0, "unreadable": 0}
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
                hid = self._headers.setdefault(tuple(header), len(self._headers))
                for row in rows:
                    self._rows.write(json.dumps([key, name, hid, row]) + "\n")
                records = len(rows)
                self._has["csv"] = self._has["csv"] or bool(rows)
            else:
                items = json_records(data, ext)
                for item in items:
                    self._jsonl.write(json.dumps(tagged(key, name, item)) + "\n")
                records = len(items)
                self._has["jsonl"] = self._has["jsonl"] or bool(items)
        except (ValueError, UnicodeDecodeError):
            self.stats["unreadable"] += 1
            return
        self.stats["files"] += 1
        self.stats["records"] += records

    def _write_csv(self, path: Path) -> None:
        columns: dict[str, None] = dict.fromkeys((KEY_COLUMN, OUTPUT_COLUMN))
        for header in self._headers:
            columns.update(dict.fromkeys(header))
        names = list(columns)
        where = {h: [names.index(c) for c in h] for h in self._headers}
        by_id = {hid: where[h] for h, hid in self._headers.items()}
        with (
            path.open("w", encoding="utf-8", newline="") as out,
            (self._folder / "csv-rows.jsonl").open(encoding="utf-8") as rows,
        ):
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(names)
            for line in rows:
                key, name, hid, row = json.loads(line)
                cells = [""] * len(names)
                cells[0], cells[1] = neutral(key), neutral(name)
                for at, value in zip(by_id[hid], row, strict=False):
                    cells[at] = value
                writer.writerow(cells)

    def upload(self, client: Minio, where: layout.RunLayout) -> dict[str, Any]:
        """Upload the tables that have records; the merge figures for the report."""
        self._jsonl.close()
        self._rows.close()
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
            self._write_csv(path)
            s3.put_file(client, where.bucket, where.merged("csv"), path, "text/csv")
            tables.append(f"s3://{where.bucket}/{where.merged('csv')}")
        return {**self.stats, "tables": tables}
