"""`oscar-batch generate`: write the workflow (and RBAC) of a spec."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from generator.build import rbac
from generator.cli._common import SetOpt, SkipOpt, SpecArg, errors, fail, load_spec

FORMATS = ("yaml", "json")


@errors
def generate(
    spec: SpecArg,
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="format: yaml or json (written to stdout unless --out-dir)"
        ),
    ] = "yaml",
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            "-d",
            help="write <name>.yaml (or .json) into this folder",
            show_default=False,
        ),
    ] = None,
    with_rbac: Annotated[
        bool, typer.Option("--rbac", help="also write ServiceAccount, roles and Secret skeletons")
    ] = False,
    skip_existing: SkipOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Write the workflow of a batch spec: plan -> workers -> aggregate."""
    if output not in FORMATS:
        # -o was the folder before it was a format, as everywhere else
        raise fail(
            f"-o {output}: -o is the output format (yaml or json); to write into a folder"
            f" use --out-dir {output}",
            2,
        )
    from generator.build import workflow  # Hera: imported by the commands that build (see _argo)

    batch = load_spec(spec, overrides, skip_existing)
    text = workflow.to_yaml(batch)
    docs: list[tuple[str, str]] = [(batch.name, text)]
    if with_rbac:
        docs.append((f"{batch.name}-rbac", rbac.to_yaml(batch)))
    if output == "json":
        docs = [(name, _json(body)) for name, body in docs]
    if out_dir is None:
        sys.stdout.write(("---\n" if output == "yaml" else "").join(body for _, body in docs))
        typer.echo(f"note: {rbac.POD_SECURITY}", err=True)
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, body in docs:
        target = out_dir / f"{name}.{output}"
        target.write_text(body, encoding="utf-8")
        typer.echo(f"wrote {target}", err=True)
    typer.echo(f"note: {rbac.POD_SECURITY}", err=True)


def _json(text: str) -> str:
    """YAML documents as JSON: one object, or a v1 List of several (as kubectl writes them)."""
    objects: list[Any] = [d for d in yaml.safe_load_all(text) if d is not None]
    data = (
        objects[0] if len(objects) == 1 else {"apiVersion": "v1", "kind": "List", "items": objects}
    )
    return json.dumps(data, indent=2) + "\n"
