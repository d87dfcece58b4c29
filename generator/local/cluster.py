"""The local cluster's gatekeepers in one place: what the apiserver admits (admission), what
RBAC allows (authz), what the kubelet refuses to start (imageuser), over the applied objects
(objects) and the controller's executor settings. The controller and the API stand-in ask
it; the rules themselves live in those pure modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.build import rbac
from generator.errors import RunError
from generator.local import admission, authz, imageuser
from generator.local.objects import Objects
from generator.spec import model, quantity
from generator.spec.yamlfile import read_text
from generator.stages import quota


@dataclass
class Cluster:
    objects: Objects
    runtime_image: str = ""
    image_users: dict[str, str] = field(default_factory=dict)

    @property
    def executor(self) -> dict[str, Any]:
        return self.objects.executor()

    def used(self, namespace: str, pods: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """What the namespace's live pods count against quotas (milli-units)."""
        total: dict[str, int] = {}
        for pod in pods:
            if (pod.get("metadata") or {}).get("namespace") != namespace:
                continue
            for name, amount in admission.usage(dict(pod)).items():
                total[name] = total.get(name, 0) + amount
        return total

    def admit(
        self, pod: dict[str, Any], live: Iterable[Mapping[str, Any]]
    ) -> tuple[dict[str, Any], admission.Refusal | None]:
        """The pod as admitted (LimitRange defaults filled in), or the refusal."""
        namespace = str(pod["metadata"]["namespace"])
        name = pod["metadata"]["name"]
        # LimitRanger runs first: its defaults count in what Pod Security and quotas see
        limitranges = self.objects.of("LimitRange", namespace)
        pod = {**pod, "spec": quota.with_defaults(pod["spec"], limitranges)}
        violation = admission.pod_security(pod, self.objects.enforce_level(namespace))
        if violation:
            return pod, admission.Refusal(f'pods "{name}" is forbidden: {violation}')
        quotas = self.objects.of("ResourceQuota", namespace)
        return pod, admission.resource_quota(pod, quotas, self.used(namespace, live))

    def kubelet_refusal(self, pod: Mapping[str, Any]) -> str | None:
        """CreateContainerConfigError of the first container the kubelet will not create."""
        spec = pod.get("spec") or {}
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            user = imageuser.user_of(str(c.get("image", "")), self.runtime_image, self.image_users)
            why = imageuser.refusal(pod, c, user)
            if why:
                return f"CreateContainerConfigError: {why}"
        return None

    def authorize(self, user: authz.User, req: authz.Request) -> str | None:
        return authz.authorize(self.objects, user, req)

    def quotas(self, namespace: str, live: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The namespace's ResourceQuotas with the status the quota controller would write."""
        used = self.used(namespace, live)
        out = []
        for q in self.objects.of("ResourceQuota", namespace):
            hard = dict((q.get("spec") or {}).get("hard") or {})
            status = {
                "hard": hard,
                "used": {
                    r: quantity.format_milli(r.rpartition(".")[2], used.get(r, 0)) for r in hard
                },
            }
            out.append({**q, "status": status})
        return out


def load(
    paths: Iterable[Path],
    namespace: str,
    base: Iterable[Mapping[str, Any]] = (),
    runtime_image: str = "",
    image_users: Mapping[str, str] | None = None,
) -> Cluster:
    """`base` (what `generate --rbac` writes), then each file's documents, applied in order.

    Raises:
        RunError: a file is unreadable, not YAML, or holds an object the cluster does not.
    """
    objects = Objects()
    objects.apply_all(base, "generate --rbac", namespace)
    for path in paths:
        try:
            text = read_text(path, "object file", 16 << 20, RunError)
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            raise RunError(f"{path}: not YAML: {exc}".splitlines()[0]) from None
        objects.apply_all(docs, str(path), namespace)
    return Cluster(objects, runtime_image, dict(image_users or {}))


def generated_rbac(
    batch: model.BatchSpec | None, doc: Mapping[str, Any], namespace: str
) -> list[dict[str, Any]]:
    """What `generate --rbac` writes for `batch` (the spec a generated workflow carries); for
    a hand-written workflow (None), the executor rights Argo's docs ask for
    (docs/workflow-rbac.md: workflowtaskresults create/patch) for each ServiceAccount it
    names, `default` included."""
    if batch is not None:
        return rbac.manifests(batch)
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronWorkflow":
        spec = spec.get("workflowSpec") or {}
    names = {"default", str(spec.get("serviceAccountName") or "default")}
    for source in [spec, *(spec.get("templates") or [])]:
        names.add(str(source.get("serviceAccountName") or "default"))
        names.add(str((source.get("executor") or {}).get("serviceAccountName") or "default"))
    role = "argo-executor"
    return [
        {"apiVersion": f"{rbac.RBAC}/v1", "kind": "Role",
         "metadata": {"name": role, "namespace": namespace},
         "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"],
                    "verbs": ["create", "patch"]}]},
        {"apiVersion": f"{rbac.RBAC}/v1", "kind": "RoleBinding",
         "metadata": {"name": role, "namespace": namespace},
         "roleRef": {"apiGroup": rbac.RBAC, "kind": "Role", "name": role},
         "subjects": [{"kind": "ServiceAccount", "name": n, "namespace": namespace}
                      for n in sorted(names)]},
    ]  # fmt: skip


CONTROLLER = "workflow-controller-configmap"


def remedy(message: str) -> str:
    """What to change so a cluster accepts what it refused with `message` ("" if unknown)."""
    if "violates PodSecurity" in message and "securityContext.privileged" in message:
        return (
            "the rclone sidecar must be privileged (a FUSE mount): label the namespace"
            " pod-security.kubernetes.io/enforce=privileged"
        )
    if "violates PodSecurity" in message:
        return (
            f"Argo's init and wait containers take their securityContext from {CONTROLLER}'s"
            " executor: give it runAsNonRoot: true, runAsUser, allowPrivilegeEscalation: false,"
            " capabilities.drop [ALL] and seccompProfile RuntimeDefault"
        )
    if "must specify" in message:
        return (
            f"a ResourceQuota needs every container's requests and limits: set Argo's init and"
            f" wait ones with executor.resources in {CONTROLLER} (and planning.executor_requests"
            " / executor_limits in the spec), or add a LimitRange with defaults"
        )
    if "exceeded quota" in message:
        return "the namespace's ResourceQuota has no room for this pod"
    if "runAsNonRoot" in message:
        return (
            "the image runs as root: set runAsUser (pod or container securityContext), or give"
            f" {CONTROLLER}'s executor a securityContext with runAsUser for Argo's containers"
        )
    if "is forbidden: User" in message:
        return (
            "apply the Roles and bindings `oscar-batch generate --rbac` writes (kubectl apply -f)"
        )
    return ""
