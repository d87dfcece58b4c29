"""RBAC and Secret skeletons that `generate --rbac` writes beside a workflow.

Built with the official kubernetes client's models. The plan step reads nodes and pods
cluster-wide (get/list only); Argo's executor needs workflowtaskresults in the namespace.
Secrets are skeletons: their keys, never values.
"""

from __future__ import annotations

from typing import Any

import yaml

from generator.spec import BatchSpec


def manifests(spec: BatchSpec) -> list[dict[str, Any]]:
    """ServiceAccount, ClusterRole + binding, Role + binding, and empty Secrets."""
    from kubernetes import client as k  # heavy import, only for --rbac

    ns, sa = spec.argo.namespace, spec.argo.service_account
    labels = {"app.kubernetes.io/managed-by": "oscar-batch", "oscar-batch/spec": spec.name}

    def meta(name: str, namespaced: bool = True) -> Any:
        return k.V1ObjectMeta(name=name, namespace=ns if namespaced else None, labels=labels)

    subject = k.RbacV1Subject(kind="ServiceAccount", name=sa, namespace=ns)
    objects: list[Any] = [
        k.V1ServiceAccount(api_version="v1", kind="ServiceAccount", metadata=meta(sa)),
        k.V1ClusterRole(
            api_version="rbac.authorization.k8s.io/v1",
            kind="ClusterRole",
            metadata=meta(f"{sa}-read-capacity", namespaced=False),
            rules=[
                k.V1PolicyRule(api_groups=[""], resources=["nodes", "pods"], verbs=["get", "list"])
            ],
        ),
        k.V1ClusterRoleBinding(
            api_version="rbac.authorization.k8s.io/v1",
            kind="ClusterRoleBinding",
            metadata=meta(f"{sa}-read-capacity", namespaced=False),
            role_ref=k.V1RoleRef(
                api_group="rbac.authorization.k8s.io",
                kind="ClusterRole",
                name=f"{sa}-read-capacity",
            ),
            subjects=[subject],
        ),
        k.V1Role(
            api_version="rbac.authorization.k8s.io/v1",
            kind="Role",
            metadata=meta(f"{sa}-executor"),
            rules=[
                k.V1PolicyRule(
                    api_groups=["argoproj.io"],
                    resources=["workflowtaskresults"],
                    verbs=["create", "patch"],
                )
            ],
        ),
        k.V1RoleBinding(
            api_version="rbac.authorization.k8s.io/v1",
            kind="RoleBinding",
            metadata=meta(f"{sa}-executor"),
            role_ref=k.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name=f"{sa}-executor"
            ),
            subjects=[subject],
        ),
        k.V1Secret(
            api_version="v1",
            kind="Secret",
            metadata=meta(spec.input.credentials_secret),
            type="Opaque",
            string_data={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
        ),
    ]
    if spec.service.secret_env:
        objects.append(
            k.V1Secret(
                api_version="v1",
                kind="Secret",
                metadata=meta(spec.service.secret_name),
                type="Opaque",
                string_data=dict.fromkeys(spec.service.secret_env, ""),
            )
        )
    api = k.ApiClient()
    return [api.sanitize_for_serialization(o) for o in objects]  # type: ignore[no-untyped-call]


def to_yaml(spec: BatchSpec) -> str:
    """All manifests as one multi-document YAML, with a note on filling the Secrets."""
    head = (
        "# Fill the Secrets' values with `kubectl create secret generic ... --dry-run=client`\n"
        "# or your secret manager; never commit them.\n"
    )
    return head + "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in manifests(spec))
