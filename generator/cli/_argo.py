"""`oscar-batch submit` and `watch`: the run through the Argo Server, followed live."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from generator import lint
from generator.cli._common import (
    SetOpt,
    errors,
    fail,
    load_spec,
    plain,
    shown,
)
from generator.cli._output import Format, FormatOpt, print_data
from generator.clients import argo_server as argo
from generator.spec import yamlfile

Server = Annotated[
    str | None, typer.Option("--argo-server", help="Argo Server URL (else ARGO_SERVER)")
]
Token = Annotated[
    str | None, typer.Option("--token", help="bearer token (else ARGO_TOKEN)", show_default=False)
]
TokenFile = Annotated[
    Path | None, typer.Option("--token-file", help="read the token from this file")
]
Namespace = Annotated[
    str | None, typer.Option("--namespace", "-n", help="namespace (else ARGO_NAMESPACE)")
]
Insecure = Annotated[
    bool | None,
    typer.Option(
        "--insecure/--verify", help="skip TLS verification (else ARGO_INSECURE_SKIP_VERIFY)"
    ),
]
Interval = Annotated[float, typer.Option(min=0.05, help="seconds between polls")]


def _document(path: Path, overrides: list[str] | None) -> tuple[dict[str, Any], str]:
    """A workflow YAML (linted, refused with its problems) or a spec (generated now)."""
    docs = yamlfile.load_yaml_all(yamlfile.read_text(path, "workflow or spec"), str(path))
    first = docs[0] if docs else None
    if isinstance(first, dict) and first.get("kind") in lint.KINDS:
        problems = lint.lint_file(path)
        if problems:
            for p in problems:
                typer.echo(plain(p), err=True)
            raise fail(f"{path}: not submitted: {len(problems)} lint problem(s)")
        return first, str(first.get("metadata", {}).get("namespace") or "argo")
    # Hera's models take half of the CLI's import time: only commands that build a workflow
    # pay it, not the plan and aggregate pods (`oscar-batch stage`)
    from generator.build import workflow

    batch = load_spec(path, overrides)
    return yaml.safe_load(workflow.to_yaml(batch)), batch.argo.namespace


def _table(name: str, state: argo.RunState) -> Table:
    table = Table(title=shown(f"{name}: {state.phase}"), show_header=False)
    table.add_row(
        "workers", ", ".join(f"{n} {p.lower()}" for p, n in state.workers.items()) or "none yet"
    )
    total = f"/{state.files_total}" if state.files_total else ""
    table.add_row("files done", f"{state.files_done}{total}")
    table.add_row("elapsed", f"{state.elapsed:.0f}s")
    table.add_row("rate", f"{state.rate:.2f} files/s")
    if state.message:
        table.add_row("message", shown(state.message))
    return table


def follow(s: argo.ArgoSettings, name: str, interval: float, output: Format) -> argo.RunState:
    """Poll the workflow until it ends, showing it live to people."""
    console = Console()
    state = argo.run_state(argo.get(s, name), time.time())
    if not output.people:
        while not state.finished:
            time.sleep(interval)
            state = argo.run_state(argo.get(s, name), time.time())
        return state
    with Live(_table(name, state), console=console, auto_refresh=False) as live:
        while not state.finished:
            time.sleep(interval)
            state = argo.run_state(argo.get(s, name), time.time())
            live.update(_table(name, state), refresh=True)
    return state


def _finish(
    name: str, state: argo.RunState, output: Format, extra: dict[str, Any] | None = None
) -> None:
    if output.data:
        print_data({**(extra or {}), **state.summary(name)}, output)
    elif output is Format.name:
        typer.echo(name)
    if state.phase != "Succeeded":
        raise fail(
            f"workflow {name} {state.phase.lower()}"
            + (f": {state.message}" if state.message else "")
        )


@errors
def submit(
    target: Annotated[
        Path, typer.Argument(help="a batch spec, or workflow YAML to submit as it is")
    ],
    argo_server: Server = None,
    token: Token = None,
    token_file: TokenFile = None,
    namespace: Namespace = None,
    insecure: Insecure = None,
    watch: Annotated[bool, typer.Option("--watch", help="follow the run until it ends")] = False,
    interval: Interval = 2.0,
    output: FormatOpt = Format.table,
    overrides: SetOpt = None,
) -> None:
    """Submit through the Argo Server; print the name and its Argo UI address."""
    doc, default_ns = _document(target, overrides)
    s = argo.settings(
        server=argo_server, token=token, token_file=token_file, namespace=namespace,
        insecure=insecure, default_namespace=default_ns,
    )  # fmt: skip
    name = argo.submit(s, doc)
    kind = str(doc.get("kind", "Workflow"))
    submitted = {"name": name, "kind": kind, "namespace": s.namespace, "url": s.ui_url(kind, name)}
    typer.echo(f"submitted {kind} {name} to namespace {s.namespace}: {submitted['url']}", err=True)
    if output.people or (output is Format.name and not watch):
        typer.echo(name)
    if watch and kind == "Workflow":
        _finish(name, follow(s, name, interval, output), output, submitted)
    elif output.data:
        print_data(submitted, output)


@errors
def watch(
    name: Annotated[str, typer.Argument(help="workflow name")],
    argo_server: Server = None,
    token: Token = None,
    token_file: TokenFile = None,
    namespace: Namespace = None,
    insecure: Insecure = None,
    interval: Interval = 2.0,
    output: FormatOpt = Format.table,
) -> None:
    """Follow a workflow until it ends; exit 0 only when it Succeeded."""
    s = argo.settings(
        server=argo_server, token=token, token_file=token_file, namespace=namespace,
        insecure=insecure, default_namespace="argo",
    )  # fmt: skip
    _finish(name, follow(s, name, interval, output), output)
