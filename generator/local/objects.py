"""The local cluster's objects: what `kubectl apply -f` of some files would have made.

`run --local` stands in for one cluster. Its Namespaces (their Pod Security labels),
ResourceQuotas, LimitRanges, RBAC objects and Argo's `workflow-controller-configmap` are the
documents of the files given with `--apply`, applied in order after what `generate --rbac`
writes for the spec: an object of the same kind, namespace and name replaces the earlier one,
as `kubectl apply` of a changed object does (applying never deletes). Pure: reading the files
is the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from generator.errors import RunError

NAMESPACED = {
    "Namespace": False,
    "ResourceQuota": True,
    "LimitRange": True,
    "ServiceAccount": True,
    "Secret": True,
    "ConfigMap": True,
    "Role": True,
    "RoleBinding": True,
    "ClusterRole": False,
    "ClusterRoleBinding": False,
    "LocalQueue": True,  # Kueue's: the plan reads them (their quota is not enforced here)
    "ClusterQueue": False,
}
CONTROLLER_CONFIGMAP = "workflow-controller-configmap"
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
LEVELS = ("privileged", "baseline", "restricted")


@dataclass
class Objects:
    """Applied objects by (kind, namespace, name); cluster-scoped ones have namespace ""."""

    items: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    def apply(self, doc: Mapping[str, Any], source: str, default_namespace: str) -> None:
        """Create or replace one object.

        Raises:
            RunError: a kind the local cluster does not hold, or no metadata.name.
        """
        kind = str(doc.get("kind", ""))
        if kind.endswith("List") and isinstance(doc.get("items"), list):
            for item in doc["items"]:
                self.apply(item, source, default_namespace)
            return
        if kind not in NAMESPACED:
            raise RunError(
                f"{source}: kind {kind or '(none)'!r} is not held by the local cluster"
                f" (it holds {', '.join(sorted(NAMESPACED))})"
            )
        meta = doc.get("metadata") or {}
        name = str(meta.get("name") or "")
        if not name:
            raise RunError(f"{source}: a {kind} without metadata.name")
        namespace = str(meta.get("namespace") or default_namespace) if NAMESPACED[kind] else ""
        copy: dict[str, Any] = yaml.safe_load(yaml.safe_dump(dict(doc)))
        copy.setdefault("metadata", {})["namespace"] = namespace or None
        self.items[(kind, namespace, name)] = copy

    def apply_all(
        self, docs: Iterable[Mapping[str, Any] | None], source: str, default_namespace: str
    ) -> None:
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, Mapping):
                raise RunError(f"{source}: every document must be a Kubernetes object")
            self.apply(doc, source, default_namespace)

    def of(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Objects of a kind (in one namespace, when given), in name order."""
        return [
            doc
            for (k, ns, _), doc in sorted(self.items.items())
            if k == kind and (namespace is None or ns == namespace)
        ]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.items.get((kind, namespace, name))

    def enforce_level(self, namespace: str) -> str:
        """The namespace's Pod Security `enforce` level; unlabelled namespaces are privileged.

        Raises:
            RunError: a label value Pod Security Admission does not know.
        """
        ns = self.get("Namespace", "", namespace) or {}
        labels = (ns.get("metadata") or {}).get("labels") or {}
        level = str(labels.get(ENFORCE_LABEL, "privileged"))
        if level not in LEVELS:
            raise RunError(
                f"namespace {namespace}: {ENFORCE_LABEL}={level!r} is not a Pod Security level"
                f" ({', '.join(LEVELS)})"
            )
        return level

    def executor(self) -> dict[str, Any]:
        """The workflow controller's `executor` container settings (nil when not configured):
        the ConfigMap's `executor` key, or `executor` inside its `config` key (the older form).

        Raises:
            RunError: the value is not YAML of a mapping.
        """
        for cm in self.of("ConfigMap"):
            if (cm.get("metadata") or {}).get("name") != CONTROLLER_CONFIGMAP:
                continue
            data = cm.get("data") or {}
            try:
                if "executor" in data:
                    value = yaml.safe_load(str(data["executor"]))
                else:
                    value = (yaml.safe_load(str(data.get("config") or "")) or {}).get("executor")
            except (yaml.YAMLError, AttributeError) as exc:
                raise RunError(f"{CONTROLLER_CONFIGMAP}: executor is not YAML: {exc}") from None
            if value is not None and not isinstance(value, dict):
                raise RunError(f"{CONTROLLER_CONFIGMAP}: executor must be a mapping")
            return value or {}
        return {}
