"""The one allow-list of what `run --local` emulates of an Argo document, and the walk that
refuses everything else before anything starts.

Each shape maps a field to the shape of its value: another shape name, ANY (a value read as
it is), or NOTED (accepted, not enforced on this machine: said once in the output). A field
absent from its shape is refused; extend the lists here when the generator emits more.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

ANY = "*"
NOTED = "noted"

SHAPES: dict[str, dict[str, str]] = {
    "document": {"apiVersion": ANY, "kind": ANY, "metadata": "metadata", "spec": ANY},
    "metadata": {"name": ANY, "generateName": ANY, "namespace": ANY, "labels": ANY,
                 "annotations": ANY},
    "cron": {"workflowSpec": "workflow", "schedule": NOTED, "schedules": NOTED,
             "timezone": NOTED, "concurrencyPolicy": NOTED, "startingDeadlineSeconds": NOTED,
             "successfulJobsHistoryLimit": NOTED, "failedJobsHistoryLimit": NOTED,
             "workflowMetadata": NOTED},
    "workflow": {"entrypoint": ANY, "templates": "template", "arguments": "arguments",
                 "parallelism": ANY, "onExit": ANY, "activeDeadlineSeconds": ANY,
                 "automountServiceAccountToken": ANY, "serviceAccountName": ANY,
                 "executor": ANY, "podGC": NOTED, "podMetadata": NOTED, "ttlStrategy": NOTED,
                 "securityContext": ANY, "imagePullSecrets": NOTED, "nodeSelector": NOTED,
                 "tolerations": NOTED, "affinity": NOTED, "priorityClassName": NOTED,
                 "workflowMetadata": NOTED, "volumes": "volume"},
    "arguments": {"parameters": "parameter"},
    "parameter": {"name": ANY, "value": ANY, "default": ANY, "description": ANY, "enum": ANY},
    "template": {"name": ANY, "container": "container", "dag": "dag", "inputs": "inputs",
                 "outputs": "outputs", "sidecars": "container", "volumes": "volume",
                 "retryStrategy": "retry", "activeDeadlineSeconds": ANY, "parallelism": ANY,
                 "automountServiceAccountToken": ANY, "metadata": NOTED, "executor": ANY,
                 "securityContext": ANY, "serviceAccountName": ANY, "nodeSelector": NOTED,
                 "tolerations": NOTED, "affinity": NOTED, "priorityClassName": NOTED,
                 "metrics": NOTED},
    "inputs": {"parameters": "parameter", "artifacts": "artifact"},
    "artifact": {"name": ANY, "path": ANY, "mode": ANY, "raw": "raw"},
    "raw": {"data": ANY},
    # the aggregate's artifacts are copies of objects it stores itself, at the same keys
    "outputs": {"parameters": "output", "artifacts": NOTED},
    "output": {"name": ANY, "valueFrom": "valueFrom", "description": ANY},
    "valueFrom": {"path": ANY, "default": ANY},
    "retry": {"limit": ANY, "retryPolicy": ANY, "backoff": "backoff", "expression": ANY},
    "backoff": {"duration": ANY, "factor": ANY, "maxDuration": ANY, "cap": ANY},
    "dag": {"tasks": "task", "failFast": ANY},
    "task": {"name": ANY, "template": ANY, "depends": ANY, "dependencies": ANY,
             "arguments": "arguments", "withParam": ANY, "when": ANY},
    "container": {"name": ANY, "image": ANY, "command": ANY, "args": ANY, "env": "env",
                  "workingDir": ANY, "volumeMounts": "volumeMount", "resources": ANY,
                  "securityContext": ANY, "imagePullPolicy": NOTED},
    "env": {"name": ANY, "value": ANY, "valueFrom": "envFrom"},
    "envFrom": {"secretKeyRef": "secretKeyRef"},
    "secretKeyRef": {"name": ANY, "key": ANY, "optional": ANY},
    "volumeMount": {"name": ANY, "mountPath": ANY, "readOnly": ANY, "mountPropagation": ANY},
    "volume": {"name": ANY, "emptyDir": "emptyDir"},
    "emptyDir": {"medium": NOTED, "sizeLimit": NOTED},
}  # fmt: skip

KINDS = {"Workflow": "workflow", "WorkflowTemplate": "workflow", "CronWorkflow": "cron"}


def _walk(node: Any, shape: str, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, shape, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    fields = SHAPES[shape]
    for key, value in node.items():
        where = f"{path}.{key}" if path else str(key)
        child = fields.get(str(key))
        if child is None:
            yield "refused", where
        elif child == NOTED:
            yield "noted", str(key)
        elif child != ANY:
            yield from _walk(value, child, where)


def check(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The fields of `doc` run --local does not emulate, and those it accepts without
    enforcing them (names, once each).

    Returns:
        (refused paths, noted field names); refused is empty when the document can run.
    """
    found = list(_walk(doc, "document", ""))
    kind = KINDS.get(str(doc.get("kind")))
    if kind is None:
        found.append(("refused", f"kind {doc.get('kind')!r}"))
    else:
        found += _walk(doc.get("spec") or {}, kind, "spec")
    refused = [where for what, where in found if what == "refused"]
    noted = sorted({where for what, where in found if what == "noted"})
    return refused, noted


def workflow_spec(doc: dict[str, Any]) -> dict[str, Any]:
    """The Workflow spec inside any of the three kinds."""
    spec: dict[str, Any] = doc.get("spec") or {}
    if doc.get("kind") == "CronWorkflow":
        inner: dict[str, Any] = spec.get("workflowSpec") or {}
        return inner
    return spec
