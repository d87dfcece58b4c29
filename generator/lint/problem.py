"""What lint reports: a Problem (error or note) and the exception the checks raise."""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
NOTE = "note"


@dataclass(frozen=True)
class Problem:
    """One finding: where in which file, what Argo would say, and which rule said it.

    An error is what Argo rejects; a note is what lint could not check offline (a template
    in a cluster) or chose to skip (a document of another kind).
    """

    file: str
    path: str
    message: str
    rule: str
    level: str = ERROR
    document: int = 0  # index of the YAML document in its file

    def __str__(self) -> str:
        tag = "" if self.level == ERROR else f"{self.level}: "
        doc = f" (document {self.document + 1})" if self.document else ""
        return f"{self.file}{doc}: {self.path or '(document)'}: {tag}{self.message}"

    def as_dict(self) -> dict[str, str | int]:
        """The problem as JSON-ready fields."""
        return {
            "file": self.file,
            "document": self.document,
            "path": self.path,
            "level": self.level,
            "rule": self.rule,
            "message": self.message,
        }


class Reject(Exception):
    """A rule Argo's validator breaks on: its message (Argo's wording), YAML path and rule id.

    Raised deep in a walk and re-raised with Argo's prefixes (`templates.X.steps[0].a ...`),
    as validate.go wraps its errors.
    """

    def __init__(self, message: str, path: str, rule: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.rule = rule

    def wrap(self, prefix: str, path: str = "") -> Reject:
        """The same rejection with Argo's prefix before the message (and `path` if it had none)."""
        return Reject(f"{prefix} {self.message}", self.path or path, self.rule)
