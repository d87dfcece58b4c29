"""`oscar-batch submit`, `watch` and `stop`: through the Argo Server when one is given
(--argo-server, ARGO_SERVER), else through the Kubernetes API with the kubeconfig's context
and namespace, as the `argo` CLI does."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from generator import lint
from generator.cli._common import (
    Context,
    Kubeconfig,
    SetOpt,
    errors,
    fail,
    load_spec,
    plain,
    shown,
)
from generator.cli._output import Format, FormatOpt, print_data
from generator.clients import argo_kube
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
LATEST = "@latest"
NameArg = Annotated[
    str, typer.Argument(help=f"workflow name, or {LATEST} (the namespace's newest)")
]


@dataclass(frozen=True)
class Workflows:
    """Where workflows go: an Argo Server, else the Kubernetes API (one of the two is set)."""

    server: argo.ArgoSettings | None
    kube: argo_kube.KubeTarget | None

    @classmethod
    def of(
        cls,
        *,
        server: str | None,
        token: str | None,
        token_file: Path | None,
        namespace: str | None,
        insecure: bool | None,
        context: str | None,
        kubeconfig: str | None,
        default_namespace: str,
    ) -> Workflows:
        if server or os.environ.get("ARGO_SERVER"):
            s = argo.settings(
                server=server, token=token, token_file=token_file, namespace=namespace,
                insecure=insecure, default_namespace=default_namespace,
            )  # fmt: skip
            return cls(s, None)
        ns = namespace or os.environ.get("ARGO_NAMESPACE")
        return cls(None, argo_kube.target(kubeconfig, context, ns, default_namespace))

    @property
    def namespace(self) -> str:
        return self.server.namespace if self.server else self.kube.namespace if self.kube else ""

    def where(self, kind: str, name: str) -> str:
        if self.server:
            return self.server.ui_url(kind, name)
        assert self.kube is not None
        return f"Kubernetes API, context {self.kube.context}"

    def submit(self, doc: dict[str, Any]) -> str:
        if self.server:
            return argo.submit(self.server, doc)
        assert self.kube is not None
        return argo_kube.submit(self.kube, doc)

    def get(self, name: str) -> dict[str, Any]:
        if self.server:
            return argo.get(self.server, name)
        assert self.kube is not None
        return argo_kube.get(self.kube, name)

    def stop(self, name: str) -> None:
        if self.server:
            argo.stop(self.server, name)
        else:
            assert self.kube is not None
            argo_kube.stop(self.kube, name)

    def resolve(self, name: str) -> str:
        """A name, or `@latest`: the namespace's newest workflow."""
        if name != LATEST:
            return name
        if self.server:
            found = argo.names(self.server)
        else:
            assert self.kube is not None
            found = argo_kube.names(self.kube)
        if not found:
            raise argo.ArgoError(f"no workflow in namespace {self.namespace!r}")
        return found[0]


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


def follow(w: Workflows, name: str, interval: float, output: Format) -> argo.RunState:
    """Poll the workflow until it ends, showing it live to people."""
    console = Console()
    state = argo.run_state(w.get(name), time.time())
    if not output.people:
        while not state.finished:
            time.sleep(interval)
            state = argo.run_state(w.get(name), time.time())
        return state
    with Live(_table(name, state), console=console, auto_refresh=False) as live:
        while not state.finished:
            time.sleep(interval)
            state = argo.run_state(w.get(name), time.time())
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
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    watch: Annotated[bool, typer.Option("--watch", help="follow the run until it ends")] = False,
    interval: Interval = 2.0,
    output: FormatOpt = Format.table,
    overrides: SetOpt = None,
) -> None:
    """Submit through the Argo Server, else the Kubernetes API (kubeconfig); print the name
    and where to see it."""
    doc, default_ns = _document(target, overrides)
    w = Workflows.of(
        server=argo_server, token=token, token_file=token_file, namespace=namespace,
        insecure=insecure, context=context, kubeconfig=kubeconfig, default_namespace=default_ns,
    )  # fmt: skip
    name = w.submit(doc)
    kind = str(doc.get("kind", "Workflow"))
    submitted = {"name": name, "kind": kind, "namespace": w.namespace, "url": w.where(kind, name)}
    typer.echo(f"submitted {kind} {name} to namespace {w.namespace}: {submitted['url']}", err=True)
    if output.people or (output is Format.name and not watch):
        typer.echo(name)
    if watch and kind == "Workflow":
        _finish(name, follow(w, name, interval, output), output, submitted)
    elif output.data:
        print_data(submitted, output)


@errors
def watch(
    name: NameArg,
    argo_server: Server = None,
    token: Token = None,
    token_file: TokenFile = None,
    namespace: Namespace = None,
    insecure: Insecure = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    interval: Interval = 2.0,
    output: FormatOpt = Format.table,
) -> None:
    """Follow a workflow until it ends; exit 0 only when it Succeeded."""
    w = Workflows.of(
        server=argo_server, token=token, token_file=token_file, namespace=namespace,
        insecure=insecure, context=context, kubeconfig=kubeconfig, default_namespace="argo",
    )  # fmt: skip
    name = w.resolve(name)
    _finish(name, follow(w, name, interval, output), output)


@errors
def stop(
    name: NameArg,
    argo_server: Server = None,
    token: Token = None,
    token_file: TokenFile = None,
    namespace: Namespace = None,
    insecure: Insecure = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Stop a workflow as `argo stop` does: its pods stop, exit handlers still run. The run
    resumes when submitted again (what succeeded is kept)."""
    w = Workflows.of(
        server=argo_server, token=token, token_file=token_file, namespace=namespace,
        insecure=insecure, context=context, kubeconfig=kubeconfig, default_namespace="argo",
    )  # fmt: skip
    name = w.resolve(name)
    w.stop(name)
    typer.echo(f"stopping workflow {name} in namespace {w.namespace}", err=True)
