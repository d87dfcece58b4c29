"""How every command prints: one meaning of `-o` (a format), tables that never cut an identifier.

In a terminal a table drops optional columns (`-o wide` keeps them) rather than cut a run
name, a key or an image; identifiers are never folded while the table can fit at all. Not in
a terminal (a pipe, a file), rows are plain aligned columns as kubectl prints them: nothing
cut, one row per line, so `| grep` and `| awk` see whole values; titles and notes go to
stderr. `-o name` prints the identifiers alone, `-o json|yaml` the data (times in RFC 3339).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer
import yaml
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text


class Format(StrEnum):
    table = "table"
    wide = "wide"
    name = "name"
    json = "json"
    yaml = "yaml"

    @property
    def data(self) -> bool:
        """json or yaml: for scripts."""
        return self in (Format.json, Format.yaml)

    @property
    def people(self) -> bool:
        """table or wide."""
        return self in (Format.table, Format.wide)


FormatOpt = Annotated[
    Format,
    typer.Option(
        "--output",
        "-o",
        help="table (people), wide (every column), name (identifiers only), json or yaml",
    ),
]


@dataclass(frozen=True)
class Col:
    """A table column.

    Args:
        ident: holds identifiers (run names, keys, shard ids): never cut or folded.
        drop: 0 = always shown; otherwise dropped when the table does not fit, highest first.
        right: numbers, right-aligned.
        fold: prose (an error message): long words may break at the edge rather than the
            column be dropped.
    """

    name: str
    ident: bool = False
    drop: int = 0
    right: bool = False
    fold: bool = False


def rfc3339(epoch: float | None) -> str | None:
    """An epoch time as kubectl and Argo write times: 2026-12-03T13:35:10Z."""
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def when(epoch: float | None) -> str:
    """A time for a table cell, to the minute, UTC."""
    return "-" if epoch is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch))


def stdout_console() -> Console:
    return Console(highlight=False)


def to_terminal() -> bool:
    return stdout_console().is_terminal


def print_data(data: Any, fmt: Format) -> None:
    """json or yaml on stdout (sorted keys, so diffs and tests are stable)."""
    if fmt is Format.yaml:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=True, allow_unicode=True))
    else:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def print_names(names: Iterable[str]) -> None:
    for name in names:
        sys.stdout.write(f"{name}\n")


def say(line: str) -> None:
    """A line of the output itself (a verdict): stdout, wrapped at words in a terminal."""
    if to_terminal():
        stdout_console().print(Text(line))
    else:
        sys.stdout.write(f"{line}\n")


def note(line: str) -> None:
    """A line about the output (where it was read, what a mark means): stderr in a pipe."""
    if to_terminal():
        stdout_console().print(Text(line))
    else:
        sys.stderr.write(f"{line}\n")


def _longest_word(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=0)


FOLDED = 24  # prose keeps words up to this long whole (a taint, a path breaks beyond)


def _minimum(col: Col, cells: Sequence[str]) -> int:
    if col.fold:
        return min(FOLDED, max([_longest_word(col.name), *(_longest_word(c) for c in cells)]))
    widths = [cell_len(c) if col.ident else _longest_word(c) for c in cells]
    return max([_longest_word(col.name), *widths])


def table(
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    fmt: Format = Format.table,
    title: str | None = None,
    header: bool = True,
    section: bool = False,
) -> None:
    """Print rows as a table: rich in a terminal, plain aligned columns elsewhere.

    Cells are plain text (printed as they are, never as rich markup).

    Args:
        section: one of several tables (plan, report): outside a terminal its title is a
            line of stdout that heads it; else the title goes to stderr, and stdout holds
            only the header and the rows.
    """
    console = stdout_console()
    keep = list(range(len(cols)))
    if not console.is_terminal:
        _plain(
            [cols[i] for i in keep], [[r[i] for i in keep] for r in rows], title, header, section
        )
        return
    width = console.width

    def needed(chosen: list[int]) -> int:
        # each column: its widest word (whole identifier) + 2 padding + 1 border, + 1 edge
        return sum(_minimum(cols[i], [r[i] for r in rows]) + 3 for i in chosen) + 1

    if fmt is not Format.wide:
        for i in sorted((i for i, c in enumerate(cols) if c.drop), key=lambda i: -cols[i].drop):
            if needed(keep) <= width:
                break
            keep.remove(i)
    fits = needed(keep) <= width
    if fmt is Format.wide and not fits:
        console = Console(highlight=False, width=needed(keep))
        fits = True
    out = Table(title=Text(title) if title else None, show_header=header)
    for i in keep:
        c = cols[i]
        out.add_column(
            Text(c.name),
            justify="right" if c.right else "left",
            no_wrap=c.ident and fits,
            overflow="fold",
        )
    for r in rows:
        out.add_row(*(Text(r[i]) for i in keep))
    console.print(out)
    dropped = [c.name for i, c in enumerate(cols) if i not in keep]
    if dropped:
        console.print(Text(f"(not shown at this width: {', '.join(dropped)}; -o wide shows them)"))


def _plain(
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    title: str | None,
    header: bool,
    section: bool,
) -> None:
    if title:
        (sys.stdout if section else sys.stderr).write(f"{title}\n")
    lines = ([[c.name.upper().replace(" ", "_") for c in cols]] if header else []) + [
        [" ".join(cell.split()) or "-" for cell in r] for r in rows
    ]
    widths = [max(cell_len(line[i]) for line in lines) for i in range(len(cols))] if lines else []
    for line in lines:
        cells = [
            cell.rjust(widths[i]) if cols[i].right else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        sys.stdout.write("  ".join(cells).rstrip() + "\n")
