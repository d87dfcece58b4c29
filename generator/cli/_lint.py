"""`oscar-batch lint`: offline validation of Argo workflow YAML."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from generator import lint as lint_mod
from generator.cli._common import errors
from generator.cli._output import Format, FormatOpt, print_data

ArgoVersion = StrEnum("ArgoVersion", {v: v for v in lint_mod.VERSIONS})  # type: ignore[misc]


@errors
def lint(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow YAML files"
            " and folders (searched for *.yaml, *.yml, *.json)",
            show_default=False,
            metavar="PATH",
        ),
    ],
    argo_version: Annotated[
        ArgoVersion,
        typer.Option("--argo-version", help="check for this Argo version's fields and rules"),
    ] = ArgoVersion(lint_mod.DEFAULT),  # noqa: B008 - typer reads the default
    submit: Annotated[
        bool,
        typer.Option("--submit", help="as at submission: workflow arguments need values"),
    ] = False,
    output: FormatOpt = Format.table,
) -> None:
    """Check workflows offline as Argo's validator does: its schema
    (unknown fields rejected) and its rules that need no cluster.

    templateRefs are resolved among the files given; a WorkflowTemplate
    not given, and documents of other kinds, are notes. Exit 0 when clean,
    1 when Argo would reject something (one line each: file: YAML path:
    message), 2 on usage errors.
    """
    report = lint_mod.lint_paths(paths, version=str(argo_version), submit=submit)
    if output.data:
        print_data(report.as_dict(), output)
    elif output is Format.name:  # the files Argo would reject
        for path in sorted({p.file for p in report.errors}):
            typer.echo(path)
    else:
        for p in report.problems:
            typer.echo(str(p), err=p.level != lint_mod.ERROR)
        errs, notes = len(report.errors), len(report.problems) - len(report.errors)
        summary = f"{report.documents} document(s) in {report.files} file(s)"
        state = f"{errs} error(s)" if errs else "clean"
        typer.echo(f"{summary}: {state}, {notes} note(s)", err=True)
    if report.errors:
        raise typer.Exit(1)
