"""CronWorkflow rules (validate.go: CronWorkflow; robfig/cron/v3 ParseStandard for the
schedule syntax; Go's time.LoadLocation for the timezone) and their version differences."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from generator.lint import versions
from generator.lint.problem import Reject

# robfig/cron/v3 parser.go: bounds and names of the five standard fields
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),  # minute
    (0, 23, {}),  # hour
    (1, 31, {}),  # day of month
    (1, 12, {m: i + 1 for i, m in enumerate(MONTHS)}),
    (0, 6, {d: i for i, d in enumerate(DAYS)}),
)
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
DURATION = re.compile(r"([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+")
POLICIES = ("Allow", "Forbid", "Replace", "")


def _number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ValueError(f"failed to parse int from {text}")
    return int(text)


def _field(text: str, low: int, high: int, names: dict[str, int]) -> None:
    for part in text.split(","):
        range_, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise ValueError(
                f"failed to parse int from {step}"
                if not step.isdigit()
                else f"step of range should be a positive number: {part}"
            )
        if range_ in ("*", "?"):
            continue
        lo_text, dash, hi_text = range_.partition("-")
        lo = _number(lo_text, names)
        hi = _number(hi_text, names) if dash else lo
        if lo < low:
            raise ValueError(f"beginning of range ({lo}) below minimum ({low}): {part}")
        if hi > high:
            raise ValueError(f"end of range ({hi}) above maximum ({high}): {part}")
        if lo > hi:
            raise ValueError(f"beginning of range ({lo}) beyond end of range ({hi}): {part}")


def schedule_error(schedule: str) -> str | None:
    """Why robfig's ParseStandard refuses a schedule, or None."""
    spec = schedule.strip()
    if spec.startswith(("TZ=", "CRON_TZ=")):
        tz, _, spec = spec.partition(" ")
        if (err := timezone_error(tz.split("=", 1)[1])) is not None:
            return f"provided bad location {tz.split('=', 1)[1]}: {err}"
    if not spec:
        return "empty spec string"
    if spec.startswith("@"):
        if spec in DESCRIPTORS:
            return None
        if spec.startswith("@every ") and DURATION.fullmatch(spec[7:].strip()):
            return None
        return f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != len(FIELDS):
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for text, (low, high, names) in zip(fields, FIELDS, strict=True):
        try:
            _field(text, low, high, names)
        except ValueError as e:
            return str(e)
    return None


def timezone_error(tz: str) -> str | None:
    """Why Go's time.LoadLocation refuses a timezone name, or None."""
    if tz in ("", "UTC", "Local"):
        return None
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {tz}"
    return None


def check(spec: dict[str, Any], version: str) -> None:
    """The CronWorkflow-only rules of validate.CronWorkflow for Argo `version`.

    Raises:
        Reject: the first rule broken, in Argo's words.
    """
    single, many = spec.get("schedule"), list(spec.get("schedules") or [])
    if single and many:
        msg = "cron workflow cant be configured with both Spec.Schedule and Spec.Schedules"
        raise Reject(msg, "spec.schedule", "cron-schedule")
    if versions.applies("schedules-required", version) and not many:
        raise Reject(
            "cron workflow must have at least one schedule", "spec.schedules", "cron-schedule"
        )
    schedules = many or ([single] if single else [])
    for i, s in enumerate(schedules):
        if err := schedule_error(str(s)):
            where = f"spec.schedules[{i}]" if many else "spec.schedule"
            raise Reject(f"cron schedule {s} is malformed: {err}", where, "cron-schedule")
    tz = str(spec.get("timezone") or "")
    if err := timezone_error(tz):
        raise Reject(f'invalid timezone "{tz}": {err}', "spec.timezone", "cron-timezone")
    policy = str(spec.get("concurrencyPolicy") or "")
    if policy not in POLICIES:
        raise Reject(
            f"'{policy}' is not a valid concurrencyPolicy", "spec.concurrencyPolicy", "enum"
        )
    deadline = spec.get("startingDeadlineSeconds")
    if isinstance(deadline, int) and deadline < 0:
        raise Reject(
            "startingDeadlineSeconds must be positive", "spec.startingDeadlineSeconds", "cron"
        )
