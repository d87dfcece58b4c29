"""Workflows through the Kubernetes API, as the `argo` CLI works when no Argo Server is given:
the Workflow (or WorkflowTemplate, CronWorkflow) is a custom object created, read and patched
with the kubeconfig's context and namespace (`--context`, `-n`).

Stopping sets `spec.shutdown: Stop`, which is what `argo stop` does without a node selector
(argo-workflows workflow/util/util.go, StopWorkflow; TerminateWorkflow sets Terminate): the
controller stops the pods and still runs the exit handlers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from generator.clients.argo_server import ArgoError, newest_first

GROUP, VERSION = "argoproj.io", "v1alpha1"
PLURALS = {
    "Workflow": "workflows",
    "WorkflowTemplate": "workflowtemplates",
    "CronWorkflow": "cronworkflows",
}


@dataclass(frozen=True)
class KubeTarget:
    """Which cluster and namespace: a kubeconfig file and context, as kubectl takes them."""

    kubeconfig: str | None
    context: str | None
    namespace: str


def target(
    kubeconfig: str | None, context: str | None, namespace: str | None, default: str
) -> KubeTarget:
    """--namespace, else the context's namespace, else `default` (the spec's, or argo).

    Raises:
        ArgoError: no kubeconfig, or no such context (one line).
    """
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    path = kubeconfig or os.environ.get("KUBECONFIG")
    try:
        contexts, current = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError) as exc:
        raise ArgoError(
            f"no Argo Server (--argo-server, ARGO_SERVER) and no Kubernetes configuration ({exc})"
        ) from None
    chosen = next((c for c in contexts if c["name"] == context), None) if context else current
    if chosen is None:
        names = ", ".join(c["name"] for c in contexts)
        raise ArgoError(f"no context {context!r} in the kubeconfig (contexts: {names})")
    from_context = (chosen.get("context") or {}).get("namespace")
    return KubeTarget(path, chosen["name"], namespace or from_context or default)


def _api(t: KubeTarget) -> Any:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=t.kubeconfig, context=t.context)  # type: ignore[no-untyped-call]
    return client.CustomObjectsApi(api)


def _call(t: KubeTarget, what: str, call: Any) -> Any:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return call()
    except ApiException as exc:
        reason = {401: "the kubeconfig's credentials were refused", 403: "forbidden"}.get(
            exc.status, f"{exc.reason}"
        )
        raise ArgoError(
            f"cannot {what} in namespace {t.namespace!r} ({exc.status}): {reason}"
        ) from None
    except (HTTPError, OSError) as exc:
        raise ArgoError(f"cannot reach the Kubernetes API: {type(exc).__name__}") from None


def submit(t: KubeTarget, doc: dict[str, Any]) -> str:
    """Create the object; returns its name (generateName is filled by the API server)."""
    kind = str(doc.get("kind", "Workflow"))
    if kind not in PLURALS:
        raise ArgoError(f"cannot submit kind {kind!r}")
    body = {**doc, "metadata": {**(doc.get("metadata") or {}), "namespace": t.namespace}}
    created = _call(
        t,
        f"create the {kind}",
        lambda: _api(t).create_namespaced_custom_object(
            GROUP, VERSION, t.namespace, PLURALS[kind], body
        ),
    )
    return str(created["metadata"]["name"])


def get(t: KubeTarget, name: str) -> dict[str, Any]:
    """A workflow as JSON (the same shape the Argo Server returns)."""
    found: dict[str, Any] = _call(
        t,
        f"get workflow {name!r}",
        lambda: _api(t).get_namespaced_custom_object(
            GROUP, VERSION, t.namespace, "workflows", name
        ),
    )
    return found


def names(t: KubeTarget) -> list[str]:
    """The namespace's workflows, newest first."""
    listed = _call(
        t,
        "list workflows",
        lambda: _api(t).list_namespaced_custom_object(GROUP, VERSION, t.namespace, "workflows"),
    )
    return newest_first(listed.get("items") or [])


def stop(t: KubeTarget, name: str) -> None:
    _call(
        t,
        f"stop workflow {name!r}",
        lambda: _api(t).patch_namespaced_custom_object(
            GROUP, VERSION, t.namespace, "workflows", name, {"spec": {"shutdown": "Stop"}}
        ),
    )
