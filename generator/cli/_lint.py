"""`oscar-batch lint`: offline validation of Argo workflow YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from generator import lint as lint_mod
from generator.cli._common import errors


@errors
def lint(
    files: Annotated[
        list[Path], typer.Argument(help="Workflow, WorkflowTemplate or CronWorkflow YAML files")
    ],
) -> None:
    """Check workflow files against Argo's schema (unknown fields rejected) and references.

    Exit 0 when clean, 1 when problems were found (one line each: file: path: message).
    """
    problems = [p for f in files for p in lint_mod.lint_file(f)]
    for p in problems:
        typer.echo(str(p))
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{len(files)} file(s) clean", err=True)
