"""`lint_paths`: the files and folders given, read once, checked together (a templateRef
to a WorkflowTemplate in another given file is resolved), with notes for what is skipped."""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.errors import LintError
from generator.lint import schema, versions, workflow
from generator.lint.problem import ERROR, NOTE, Problem
from generator.lint.templates import Library
from generator.spec import yamlfile

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class Report:
    """What lint found in the files given."""

    files: int = 0
    documents: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """The problems Argo would reject."""
        return [p for p in self.problems if p.level == ERROR]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready fields (`lint -o json`)."""
        return {
            "files": self.files,
            "documents": self.documents,
            "errors": len(self.errors),
            "notes": len(self.problems) - len(self.errors),
            "problems": [p.as_dict() for p in self.problems],
        }


def files_of(paths: list[Path]) -> list[Path]:
    """The YAML files of the paths given (folders searched, sorted).

    Raises:
        LintError: a path does not exist.
    """
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file())
        elif p.exists():
            out.append(p)
        else:
            raise LintError(f"{p}: cannot read: no such file or directory")
    return out


def _plain(node: Any) -> Any:
    # Go's YAML reader turns timestamps into strings (JSON has no dates), and keys too
    if isinstance(node, dict):  # and a null field is an absent one, to Go's decoder
        return {str(k): _plain(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, datetime.date | datetime.datetime):
        return node.isoformat()
    return node


def load_documents(path: Path) -> list[Any]:
    """The YAML documents of one file, read with the project's safe reader (a regular file of
    at most 1 MiB; alias bombs, deep nesting and duplicate keys refused).

    Raises:
        LintError: the file cannot be read or is not YAML.
    """
    return parse_documents(yamlfile.read_text(path, "workflow", error=LintError), str(path))


def parse_documents(text: str, name: str) -> list[Any]:
    """The YAML documents of a text (the one place lint parses YAML).

    Raises:
        LintError: the text is not YAML, or YAML the safe reader refuses.
    """
    docs = yamlfile.load_yaml_all(text, name, error=LintError)
    return [_plain(d) for d in docs if d is not None]


def _library(docs: list[tuple[str, int, Any]]) -> Library:
    library: Library = {}
    for file, _, doc in docs:
        if isinstance(doc, dict) and doc.get("kind") in (
            "WorkflowTemplate",
            "ClusterWorkflowTemplate",
        ):
            source = workflow.source_of(workflow.as_go(doc), file)
            library.setdefault((doc["kind"] == "ClusterWorkflowTemplate", source.name), source)
    return library


def _skip_note(doc: Any, file: str, index: int) -> Problem:
    if not isinstance(doc, dict):
        return Problem(file, "", "not a mapping: skipped", "not-argo", NOTE, index)
    kind, api = doc.get("kind"), doc.get("apiVersion")
    msg = f"{kind or 'no kind'} ({api or 'no apiVersion'}) is not a workflow kind: skipped"
    return Problem(file, "kind", msg, "not-argo", NOTE, index)


def lint_paths(
    paths: list[Path], *, version: str = versions.DEFAULT, submit: bool = False
) -> Report:
    """Lint every Argo document of the files and folders given.

    Args:
        paths: files and folders (searched for *.yaml, *.yml, *.json).
        version: the Argo version to check for (versions.VERSIONS).
        submit: require workflow argument values, as Argo does at submission
            (`argo lint` does not; CronWorkflows always do).

    Raises:
        LintError: a path does not exist (a file that cannot be read, or is not YAML, or
            YAML the safe reader refuses, is a problem of the report).
    """
    files = files_of(paths)
    docs, unread = [], []
    for f in files:
        try:
            docs += [(str(f), i, d) for i, d in enumerate(load_documents(f))]
        except LintError as exc:  # one bad file among many is one problem, not the end
            message = str(exc).removeprefix(f"{f}:").strip()
            unread.append(Problem(str(f), "", message, "yaml"))
    report = lint_documents(docs, version=version, submit=submit)
    report.files = len(files)
    report.problems[:0] = unread
    seen = {file for file, _, _ in docs} | {p.file for p in unread}
    for f in files:
        if str(f) not in seen:
            report.problems.append(
                Problem(str(f), "", "no YAML document: skipped", "not-argo", NOTE)
            )
    return report


def lint_documents(docs: list[tuple[str, int, Any]], *, version: str, submit: bool) -> Report:
    """Lint parsed documents, given as (file, index in the file, document), together.

    Raises:
        LintError: an unknown version.
    """
    if version not in versions.VERSIONS:
        raise LintError(f"unknown Argo version {version!r}: one of {', '.join(versions.VERSIONS)}")
    library = _library(docs)
    report = Report(files=len({file for file, _, _ in docs}))
    for file, index, doc in docs:
        if not (isinstance(doc, dict) and doc.get("kind") in schema.KINDS):
            report.problems.append(_skip_note(doc, file, index))
            continue
        report.documents += 1
        found = list(schema.schema_problems(doc, file, version))
        if not found:
            found = workflow.validate(doc, file, library, submit=submit, version=version)
        seen = set()
        for p in found:
            if (p.path, p.rule, p.level) not in seen:
                seen.add((p.path, p.rule, p.level))
                report.problems.append(dataclasses.replace(p, document=index))
    return report
