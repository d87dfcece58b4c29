"""Offline lint of Argo Workflow / WorkflowTemplate / ClusterWorkflowTemplate / CronWorkflow
YAML: Argo's JSON schema made strict (schema), then the rules of Argo's validator
(workflow/validate/validate.go) that need no cluster: names, references, DAG, steps,
arguments, outputs, leaf templates, CronWorkflow (workflow, templates, dag, steps, arguments,
leaf, cron), for the Argo version chosen (versions).
"""

from __future__ import annotations

from pathlib import Path

from generator.lint.paths import Report, lint_documents, lint_paths, parse_documents
from generator.lint.problem import ERROR, NOTE, Problem
from generator.lint.schema import KINDS
from generator.lint.versions import DEFAULT, VERSIONS


def lint_file(path: Path, *, version: str = DEFAULT) -> list[Problem]:
    """The errors of one file (notes left out): what `argo submit` would refuse.

    Raises:
        LintError: the file cannot be read or is not YAML.
    """
    return lint_paths([path], version=version).errors


def lint_text(text: str, name: str, *, version: str = DEFAULT) -> list[Problem]:
    """The errors of a YAML text (generated, not yet written), named `name` in messages.

    Raises:
        LintError: the text is not YAML.
    """
    docs = [(name, i, d) for i, d in enumerate(parse_documents(text, name))]
    return lint_documents(docs, version=version, submit=False).errors


__all__ = [
    "DEFAULT",
    "ERROR",
    "KINDS",
    "NOTE",
    "VERSIONS",
    "Problem",
    "Report",
    "lint_file",
    "lint_paths",
    "lint_text",
]
