"""Argo's validator cases and examples (tests/data/argo/) measured against our lint.

`python -m tests.argo_corpus` prints the counts the closing note quotes.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "argo"
CASES = DATA / "cases"
EXAMPLES = DATA / "examples"


@dataclass(frozen=True)
class Case:
    """One row of cases.tsv."""

    file: str
    source_test: str
    expected: str  # valid | invalid
    mode: str  # submit | lint
    argo_message: str  # what Argo says (or part of it)
    match: str  # equal (the whole message) | contains (a part) | any (the test asserts none)

    @property
    def path(self) -> Path:
        return CASES / self.file


def cases() -> list[Case]:
    """Every case of cases.tsv, in file order."""
    with (DATA / "cases.tsv").open(encoding="utf-8") as fh:
        return [Case(**row) for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)]


def examples() -> list[Path]:
    """Argo's examples/ files."""
    return sorted(EXAMPLES.rglob("*.yaml"))


# (path, submit) -> messages of the errors found in the file's first document (the case;
# the documents after it stand for what Argo's test had stored in its fake cluster)
Linter = Callable[[Path, bool], list[str]]


def verdict(case: Case, messages: list[str]) -> str:
    """ok | missed (Argo rejects, we accept) | other-reason | false (Argo accepts, we reject)."""
    if case.expected == "valid":
        return "ok" if not messages else "false"
    if not messages:
        return "missed"
    if case.match == "equal":
        return "ok" if case.argo_message in messages else "other-reason"
    if case.match == "contains":
        return "ok" if any(case.argo_message in m for m in messages) else "other-reason"
    return "ok"


def measure(linter: Linter) -> dict[str, int]:
    """The counts: invalid cases rejected for Argo's reason, valid ones falsely rejected, examples."""
    counts = dict.fromkeys(
        ("invalid", "as_argo", "rejected_any", "valid", "false", "examples", "examples_clean"), 0
    )
    for case in cases():
        v = verdict(case, linter(case.path, case.mode == "submit"))
        if case.expected == "invalid":
            counts["invalid"] += 1
            counts["as_argo"] += v == "ok"
            counts["rejected_any"] += v != "missed"
        else:
            counts["valid"] += 1
            counts["false"] += v == "false"
    for path in examples():
        counts["examples"] += 1
        counts["examples_clean"] += not linter(path, False)
    return counts


def report(counts: dict[str, int]) -> str:
    """The counts as three lines."""
    c = counts
    return (
        f"rejected as Argo does: {c['as_argo']}/{c['invalid']} invalid"
        f" (rejected for any reason: {c['rejected_any']})\n"
        f"falsely rejected: {c['false']}/{c['valid']} valid\n"
        f"examples clean: {c['examples_clean']}/{c['examples']}"
    )


def _ours(path: Path, submit: bool) -> list[str]:
    from generator import lint

    report = lint.lint_paths([path], submit=submit)
    return [p.message for p in report.errors if p.document == 0]


if __name__ == "__main__":
    print(report(measure(_ours)))
