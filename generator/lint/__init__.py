"""Offline lint of Argo Workflow / WorkflowTemplate / ClusterWorkflowTemplate / CronWorkflow
YAML: Argo's JSON schema made strict (schema), then the rules of Argo's validator
(workflow/validate/validate.go) that need no cluster: names, references, DAG, steps,
arguments, outputs, leaf templates, CronWorkflow (workflow, templates, dag, steps, arguments,
leaf, cron), for the Argo version chosen (versions).
"""

from __future__ import annotations

from pathlib import Path

from generator.lint.paths import Report, lint_paths
from generator.lint.problem import ERROR, NOTE, Problem
from generator.lint.schema import KINDS
from generator.lint.versions import DEFAULT, VERSIONS


def lint_file(path: Path, *, version: str = DEFAULT) -> list[Problem]:
    """The errors of one file (notes left out): what `argo submit` would refuse.

    Raises:
        LintError: the file cannot be read or is not YAML.
    """
    return lint_paths([path], version=version).errors


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
]
