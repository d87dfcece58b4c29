"""The Pod object Argo's controller creates for one (substituted) container template (pure).

workflow/controller/workflowpod.go createWorkflowPod: containers `wait` then `main` then the
sidecars, one init container `init`; `wait` and `init` come from newExecContainer: the
executor image (argoexec) with the controller's `executor` settings (resources,
securityContext, image) from workflow-controller-configmap, nothing when it is not set. The
pod's securityContext is the template's, else the workflow's (addSchedulingConstraints); its
service account the template's, else the workflow's, else `default` (setupServiceAccount).
This object is what admission and the kubelet's checks look at, and what the API stand-in
lists; the containers themselves are run by local/kubelet.py.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from generator.errors import RunError
from generator.local import workflowpod

EXECUTOR_IMAGE = "quay.io/argoproj/argoexec:latest"


def _exec_container(name: str, executor: Mapping[str, Any]) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": name,
        "image": str(executor.get("image") or EXECUTOR_IMAGE),
        "resources": copy.deepcopy(dict(executor.get("resources") or {})),
    }
    if executor.get("securityContext"):
        c["securityContext"] = copy.deepcopy(dict(executor["securityContext"]))
    return c


def service_account(tpl: Mapping[str, Any], spec: Mapping[str, Any]) -> str:
    return str(tpl.get("serviceAccountName") or spec.get("serviceAccountName") or "default")


def executor_account(tpl: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """executor.serviceAccountName (template, else workflow): the account whose token Argo
    mounts in `init` and `wait` (workflowpod.go executorServiceAccountName)."""
    for source in (tpl, spec):
        name = (source.get("executor") or {}).get("serviceAccountName")
        if name:
            return str(name)
    return None


def pod(
    tpl: Mapping[str, Any],
    spec: Mapping[str, Any],
    *,
    name: str,
    namespace: str,
    executor: Mapping[str, Any],
) -> dict[str, Any]:
    """The Pod for template `tpl` of workflow spec `spec` (both already substituted).

    Raises:
        RunError: what createWorkflowPod refuses (the node errors with this message).
    """
    exec_account = executor_account(tpl, spec)
    mounted = workflowpod.automount(dict(tpl), dict(spec))
    if not mounted and exec_account is None:
        # setupServiceAccount: Argo's own containers would have no token
        raise RunError(
            "executor.serviceAccountName must not be empty if automountServiceAccountToken is false"
        )
    main = {"name": "main", **copy.deepcopy(dict(tpl["container"]))}
    sidecars = copy.deepcopy(list(tpl.get("sidecars") or []))
    volumes = [
        *copy.deepcopy(list(spec.get("volumes") or [])),
        *copy.deepcopy(list(tpl.get("volumes") or [])),
        {"name": "var-run-argo", "emptyDir": {}},
    ]
    if exec_account is not None:
        volumes.append(
            {
                "name": "exec-sa-token",
                "secret": {"secretName": f"{exec_account}.service-account-token"},
            }
        )
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": service_account(tpl, spec),
        "automountServiceAccountToken": mounted,
        "initContainers": [_exec_container("init", executor)],
        "containers": [_exec_container("wait", executor), main, *sidecars],
        "volumes": volumes,
        "nodeName": "localhost",
    }
    security = tpl.get("securityContext") or spec.get("securityContext")
    if security:
        pod_spec["securityContext"] = copy.deepcopy(dict(security))
    labels = {**((spec.get("podMetadata") or {}).get("labels") or {}),
              **((tpl.get("metadata") or {}).get("labels") or {})}  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": pod_spec,
        "status": {"phase": "Pending"},
    }
