"""run --local's data folder: DIR/<bucket>/<key> are the embedded S3 server's objects.

Checked before any pod starts, so a forgotten `--data-dir` or a misspelt bucket is said at
once, with the folder looked at, instead of as the plan's "no file matches" later (the
embedded server would otherwise serve an empty bucket it created itself).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from generator.errors import RunError
from generator.spec.model import BatchSpec

SHOWN = 5


def _buckets(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _keys(folder: Path, prefix: str) -> Iterator[str]:
    """The keys of a bucket folder under the prefix, in order."""
    base = prefix.rpartition("/")[0]
    for parent, dirs, files in os.walk(folder / base if base else folder):
        dirs.sort()
        rel = Path(parent).relative_to(folder).as_posix()
        for name in sorted(files):
            key = name if rel == "." else f"{rel}/{name}"
            if key.startswith(prefix):
                yield key


def check_input(spec: BatchSpec, data_dir: Path) -> None:
    """Refuse, naming where it looked, when the input has no file the spec would process.

    Raises:
        RunError: the folder, the bucket or matching files are missing (one line).
    """
    bucket, prefix = spec.input.bucket, spec.input.prefix
    hint = f"DIR/{bucket}/{prefix}<files>"
    if not data_dir.is_dir():
        raise RunError(
            f"{data_dir}/: no such folder. run --local reads bucket {bucket} from a folder"
            f" {hint}: give --data-dir DIR"
        )
    folder = data_dir / bucket
    if not folder.is_dir():
        there = ", ".join(_buckets(data_dir)) or "none"
        raise RunError(
            f"no bucket {bucket} in {data_dir}/ (looked for the folder {folder}/; buckets"
            f" there: {there}). Files go in {hint}; another folder: --data-dir DIR"
        )
    count, others = 0, list[str]()
    for key in _keys(folder, prefix):
        if spec.input.wanted(key):
            return
        count += 1
        others += [key] if len(others) < SHOWN else []
    globs = ", ".join(spec.input.include)
    found = (
        f"{count} other file(s) there, e.g. {', '.join(others)}" if count else "it holds no file"
    )
    raise RunError(f"no file under {folder}/{prefix} matches {globs}: {found}")
