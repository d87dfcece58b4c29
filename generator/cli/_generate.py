"""`oscar-batch generate`: write the workflow (and RBAC) of a spec."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from generator.build import rbac
from generator.cli._common import SetOpt, SkipOpt, SpecArg, errors, load_spec


@errors
def generate(
    spec: SpecArg,
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="folder to write <name>.yaml into, or - for stdout"),
    ] = "-",
    with_rbac: Annotated[
        bool, typer.Option("--rbac", help="also write ServiceAccount, roles and Secret skeletons")
    ] = False,
    skip_existing: SkipOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Generate the Argo Workflow of a batch spec: plan -> workers -> aggregate."""
    from generator.build import workflow  # Hera: imported by the commands that build (see _argo)

    batch = load_spec(spec, overrides, skip_existing)
    text = workflow.to_yaml(batch)
    if output == "-":
        sys.stdout.write(text)
        if with_rbac:
            sys.stdout.write("---\n" + rbac.to_yaml(batch))
        typer.echo(f"note: {rbac.POD_SECURITY}", err=True)
        return
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{batch.name}.yaml"
    target.write_text(text, encoding="utf-8")
    written = [target]
    if with_rbac:
        written.append(folder / f"{batch.name}-rbac.yaml")
        written[-1].write_text(rbac.to_yaml(batch), encoding="utf-8")
    for path in written:
        typer.echo(f"wrote {path}", err=True)
    typer.echo(f"note: {rbac.POD_SECURITY}", err=True)
