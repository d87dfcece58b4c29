"""How many records one output holds (e.g. detections per image), for `compare`.

CSV: its rows. JSON Lines: its lines. JSON: the list at the user's path (`--records
detections`, `$.result.boxes`, `frames.0.boxes`), else a sensible default: a top-level list,
or the one list of an object that holds exactly one (`{"detections": [...], "model": "v2"}`
counts its detections), else one record.
"""

from __future__ import annotations

import json
from typing import Any

from generator.bucket import merge


def parse_path(path: str) -> list[str]:
    """`$.a.b`, `a.b`, `a[0].b` as steps: keys, or list indexes written as digits."""
    text = path.strip().removeprefix("$").lstrip(".").replace("[", ".").replace("]", "")
    return [step for step in text.split(".") if step]


def _at(value: Any, steps: list[str]) -> Any:
    for step in steps:
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            raise KeyError(step)
    return value


def _default(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:
            return len(lists[0])
    return 1


def count(name: str, data: bytes, path: list[str] | None = None) -> int | None:
    """Records of an output; None when it is not JSON/CSV, unreadable, or has no `path`."""
    ext = merge.kind(name, ("json", "jsonl", "csv"))
    try:
        if ext == "csv":
            return len(merge.csv_records(data)[1])
        if ext == "jsonl":
            lines = merge.json_records(data, ext)
            return len(lines) if path is None else sum(_sized(_at(v, path)) for v in lines)
        if ext == "json":
            value = json.loads(data.decode("utf-8"))
            return _default(value) if path is None else _sized(_at(value, path))
    except (ValueError, UnicodeDecodeError, KeyError, RecursionError):
        return None  # RecursionError: JSON nested deeper than Python's parser goes
    return None


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, list) else 1
