"""How many copies of the worker pod fit on each node now, the way kube-scheduler counts.

Pure functions over Node and Pod objects in the JSON shape the Kubernetes API (and
`kubectl get -o json`) returns. All amounts are milli-units (see `quantity`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.spec import quantity
from generator.spec.model import Toleration

Resources = dict[str, int]
PODS = "pods"
TERMINATED = ("Succeeded", "Failed")


def container_requests(container: Mapping[str, Any]) -> Resources:
    """A container's requests; a limit stands in for a missing request, as the API defaults it."""
    res = container.get("resources") or {}
    merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
    return {name: quantity.milli(value) for name, value in merged.items()}


def pod_requests(pod_spec: Mapping[str, Any]) -> Resources:
    """The pod's effective request: max(sum of containers, largest init container) + overhead.

    Restartable init containers (native sidecars) run alongside the app containers, so they
    are added to the sum, as kube-scheduler does.
    """
    total: Resources = {}
    for c in pod_spec.get("containers") or []:
        for name, v in container_requests(c).items():
            total[name] = total.get(name, 0) + v
    sidecars: Resources = {}
    for c in pod_spec.get("initContainers") or []:
        req = container_requests(c)
        if c.get("restartPolicy") == "Always":
            for name, v in req.items():
                sidecars[name] = sidecars.get(name, 0) + v
                total[name] = total.get(name, 0) + v
        else:
            for name, v in req.items():
                total[name] = max(total.get(name, 0), v + sidecars.get(name, 0))
    for name, v in (pod_spec.get("overhead") or {}).items():
        total[name] = total.get(name, 0) + quantity.milli(v)
    return {k: v for k, v in total.items() if v > 0}


def tolerates(tolerations: Iterable[Toleration], taint: Mapping[str, Any]) -> bool:
    """Whether any toleration matches the taint (Kubernetes' ToleratesTaint)."""
    for t in tolerations:
        if t.effect is not None and t.effect != taint.get("effect"):
            continue
        if t.key is None and t.operator == "Exists":
            return True
        if t.key != taint.get("key"):
            continue
        if t.operator == "Exists" or (t.value or "") == (taint.get("value") or ""):
            return True
    return False


@dataclass(frozen=True)
class NodeFit:
    """One node's answer: how many workers fit, or why none can go there."""

    name: str
    allocatable: Resources = field(default_factory=dict)
    used: Resources = field(default_factory=dict)
    free: Resources = field(default_factory=dict)
    fits: int = 0
    bottleneck: str | None = None
    excluded: str | None = None


def _ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _exclusion(
    node: Mapping[str, Any], selector: Mapping[str, str], tolerations: Iterable[Toleration]
) -> str | None:
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return "cordoned"
    if not _ready(node):
        return "not Ready"
    labels = (node.get("metadata") or {}).get("labels") or {}
    for k, v in selector.items():
        if labels.get(k) != v:
            return f"nodeSelector {k}={v} does not match"
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            value = f"={taint['value']}" if taint.get("value") else ""
            return f"taint {taint.get('key')}{value}:{taint.get('effect')} not tolerated"
    return None


def fit_node(
    node: Mapping[str, Any],
    pods: Iterable[Mapping[str, Any]],
    request: Resources,
    *,
    selector: Mapping[str, str],
    tolerations: Iterable[Toleration],
    headroom: float = 1.0,
) -> NodeFit:
    """Count the copies of a pod with `request` that fit on `node` next to `pods` bound to it.

    Args:
        node: a Node object.
        pods: the pods bound to this node (terminated ones are ignored here).
        request: the worker pod's effective request (`pod_requests`).
        selector: the worker's nodeSelector.
        tolerations: the worker's tolerations.
        headroom: fraction of the free resources the batch may use.
    """
    name = (node.get("metadata") or {}).get("name", "?")
    allocatable = {
        k: quantity.milli(v)
        for k, v in ((node.get("status") or {}).get("allocatable") or {}).items()
    }
    used: Resources = {}
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in TERMINATED:
            continue
        used[PODS] = used.get(PODS, 0) + 1000
        for k, v in pod_requests(pod.get("spec") or {}).items():
            used[k] = used.get(k, 0) + v
    # Headroom is for CPU, memory and devices; the kubelet's pod slots are counted whole.
    free = {
        k: max(0, int((allocatable.get(k, 0) - used.get(k, 0)) * (1 if k == PODS else headroom)))
        for k in allocatable
    }
    excluded = _exclusion(node, selector, tolerations)
    if excluded:
        return NodeFit(name, allocatable, used, free, 0, None, excluded)
    fits, bottleneck = None, None
    for k, need in sorted({**request, PODS: 1000}.items()):
        n = free.get(k, 0) // need
        if fits is None or n < fits:
            fits, bottleneck = n, k
    return NodeFit(name, allocatable, used, free, fits or 0, bottleneck, None)


def fit_cluster(
    nodes: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    request: Resources,
    *,
    selector: Mapping[str, str],
    tolerations: Iterable[Toleration],
    headroom: float = 1.0,
) -> list[NodeFit]:
    """`fit_node` for every node, pods grouped by `spec.nodeName` (unbound pods use nothing)."""
    by_node: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        bound = (pod.get("spec") or {}).get("nodeName")
        if bound:
            by_node.setdefault(bound, []).append(pod)
    tolerations = tuple(tolerations)
    fits = [
        fit_node(
            n,
            by_node.get((n.get("metadata") or {}).get("name", ""), []),
            request,
            selector=selector,
            tolerations=tolerations,
            headroom=headroom,
        )
        for n in nodes
    ]
    return sorted(fits, key=lambda f: f.name)


def why_nothing_fits(fits: list[NodeFit], request: Resources) -> str:
    """One line naming, per resource or reason, the nodes that stop a single worker."""
    if not fits:
        return "the cluster has no nodes"
    reasons: dict[str, list[str]] = {}
    for f in fits:
        if f.excluded:
            reasons.setdefault(f.excluded, []).append(f.name)
        else:
            res = f.bottleneck or "?"
            need = quantity.format_milli(res, request.get(res, 1000))
            have = quantity.format_milli(res, f.free.get(res, 0))
            reasons.setdefault(f"not enough {res} (need {need})", []).append(f"{f.name} has {have}")
    parts = [f"{why}: {', '.join(names)}" for why, names in sorted(reasons.items())]
    return "no worker fits on any node; " + "; ".join(parts)
