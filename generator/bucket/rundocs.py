"""A run folder's JSON documents (plan.json, report.json) read as types, whatever is planted.

Anything with write access to an output prefix can leave objects there: a document that is
not JSON, nested too deeply, or has a field of the wrong type is `Unreadable`, with one line
saying which document and which field, and never a traceback in `runs` or `report`. Only the
fields the readers use are checked; others pass through untouched.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from generator.errors import StorageError


class Unreadable(StorageError):
    """A run document that cannot be read; the message names the document and the field."""


class _Document(BaseModel):
    # strict: a number written as a string, or true for a count, is a planted value, not data
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


T = TypeVar("T", bound=_Document)


class IdentityRecord(_Document):
    id: str | None = None
    image: str | None = None
    script_sha256: str | None = None
    env: dict[str, str] = {}
    secret_env: list[str] = []


class Plan(_Document):
    spec: str | None = None
    identity: IdentityRecord | None = None
    created: float | None = None
    files: int | None = None
    workers: int | None = None
    scope: dict[str, Any] | None = None


class Problem(_Document):
    key: str
    status: str
    exit_code: int | None = None
    reason: str = ""
    error: str = ""


class Attempt(_Document):
    processed: int | None = None
    succeeded: int | None = None
    failed: int | None = None


class FileSeconds(_Document):
    mean: float | None = None
    p50: float | None = None
    p95: float | None = None
    max: float | None = None


class Merged(_Document):
    tables: list[str] = []
    unreadable: int = 0


class Counts(_Document):
    """What `runs` reads of a report.json."""

    planned: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    missing: int | None = None
    passed: bool | None = None


class Report(Counts):
    """What `report` prints of a report.json."""

    run: str
    service: str
    input: str
    outputs: str = ""
    planned: int
    succeeded: int
    failed: int
    missing: int
    unsupported: int = 0
    no_output: int = 0
    passed: bool
    failed_ratio: float
    identities: dict[str, int] = {}
    workers: int | None = None
    mode: str | None = None
    invocations: int | None = None
    attempt: Attempt | None = None
    wall_seconds: float | None = None
    throughput_files_per_s: float | None = None
    file_seconds: FileSeconds | None = None
    merged: Merged | None = None
    problems: list[Problem] = []
    problems_total: int | None = None


def parse(model: type[T], data: bytes, name: str) -> T:
    """A document's bytes as `model`.

    Raises:
        Unreadable: not UTF-8 JSON, not an object, nested too deeply, or a field of a wrong type.
    """
    try:
        value = json.loads(data)
    except RecursionError:
        raise Unreadable(f"{name}: nested too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise Unreadable(f"{name}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise Unreadable(f"{name}: a JSON {type(value).__name__}, not an object")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        said = first["msg"].split(" or instance of ")[0]  # pydantic's class names mean nothing here
        raise Unreadable(f"{name}: {where}: {said[:1].lower()}{said[1:]}{more}") from None


def summary_line(report: dict[str, Any]) -> str:
    """A report in one line, for the aggregate's log and the terminal."""
    no_output = report.get("no_output") or 0
    nothing = (report.get("attempt") or {}).get("nothing_to_do")
    return (
        ("nothing to do: " if nothing else "")
        + f"{report['succeeded']}/{report['planned']} succeeded"
        + (f" ({no_output} with no output)" if no_output else "")
        + f", {report['failed']} failed, {report['missing']} missing,"
        f" {report['unsupported']} unsupported; report {report.get('report', '')}"
    )
