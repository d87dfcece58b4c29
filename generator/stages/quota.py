"""How many worker pods a namespace's ResourceQuotas and a Kueue queue still admit (pure).

A ResourceQuota rejects a pod at creation when it would pass `hard` (the pod never goes
Pending; Argo marks the node Error), so the plan must not fan out past what is left
(status.hard - status.used). Kueue's pod integration holds a labelled pod until its
ClusterQueue has quota for it: wider than that, workers only wait.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from generator.build import workerpod
from generator.clients.kube import ClusterState
from generator.errors import ClusterError
from generator.spec import quantity
from generator.spec.model import BatchSpec
from generator.stages import capacity

PODS = "pods"


@dataclass(frozen=True)
class Limit:
    """One quota line: how many more worker pods it admits."""

    source: str  # "ResourceQuota ns/name" or "Kueue ClusterQueue name"
    resource: str  # as the quota names it
    remaining: int  # milli-units
    per_pod: int  # milli-units one worker pod takes
    fits: int

    def shown(self, amount: int) -> str:
        """An amount of this resource as people read it (`requests.memory` -> GiB)."""
        resource = self.resource.partition(".")[2] or self.resource
        return quantity.format_milli(resource, amount)


def _per_pod(resource: str, requests: Mapping[str, int], limits: Mapping[str, int]) -> int | None:
    """What one worker pod counts against a quota resource name (core/v1 ResourceQuota
    semantics: `cpu` = `requests.cpu`; `pods` and `count/pods` count pods)."""
    if resource in (PODS, "count/pods"):
        return 1000
    kind, _, name = resource.partition(".")
    if kind == "requests" and name:
        return requests.get(name, 0)
    if kind == "limits" and name:
        return limits.get(name, 0)
    if "/" not in resource and resource.startswith(("cpu", "memory", "ephemeral-storage")):
        return requests.get(resource, 0)
    return None  # services, configmaps, count/...: not ours


def _limit(source: str, resource: str, remaining: int, per_pod: int) -> Limit:
    fits = max(0, remaining) // per_pod
    return Limit(source, resource, remaining, per_pod, int(fits))


def resource_quotas(
    quotas: Iterable[Mapping[str, Any]], requests: Mapping[str, int], limits: Mapping[str, int]
) -> list[Limit]:
    """One Limit per quota resource the worker pod counts against."""
    out = []
    for q in quotas:
        meta = q.get("metadata") or {}
        status = q.get("status") or {}
        hard = status.get("hard") or (q.get("spec") or {}).get("hard") or {}
        used = status.get("used") or {}
        source = f"ResourceQuota {meta.get('namespace', '')}/{meta.get('name', '?')}"
        for resource, amount in sorted(hard.items()):
            per_pod = _per_pod(resource, requests, limits)
            if not per_pod:
                continue
            left = quantity.milli(amount) - quantity.milli(used.get(resource, "0"))
            out.append(_limit(source, resource, left, per_pod))
    return out


def kueue_queue(
    local_queue: Mapping[str, Any], cluster_queue: Mapping[str, Any], requests: Mapping[str, int]
) -> list[Limit]:
    """What the LocalQueue's ClusterQueue has left: nominal quota over all flavors minus usage
    (kueue.x-k8s.io/v1beta1 ClusterQueue spec.resourceGroups, status.flavorsUsage). Borrowing
    from a cohort is not counted on: it is not promised."""
    name = (cluster_queue.get("metadata") or {}).get("name", "?")
    nominal: dict[str, int] = {}
    for group in (cluster_queue.get("spec") or {}).get("resourceGroups") or []:
        for flavor in group.get("flavors") or []:
            for r in flavor.get("resources") or []:
                nominal[r["name"]] = nominal.get(r["name"], 0) + quantity.milli(r["nominalQuota"])
    used: dict[str, int] = {}
    for flavor in (cluster_queue.get("status") or {}).get("flavorsUsage") or []:
        for r in flavor.get("resources") or []:
            used[r["name"]] = used.get(r["name"], 0) + quantity.milli(r.get("total", "0"))
    source = f"Kueue ClusterQueue {name} (LocalQueue {local_queue['metadata']['name']})"
    out = []
    for resource, amount in sorted(nominal.items()):
        per_pod = 1000 if resource == PODS else requests.get(resource, 0)
        if per_pod:
            out.append(_limit(source, resource, amount - used.get(resource, 0), per_pod))
    return out


def pod_limits(pod_spec: Mapping[str, Any]) -> dict[str, int]:
    """The sum of the containers' limits (what `limits.*` quotas count)."""
    total: dict[str, int] = {}
    for c in pod_spec.get("containers") or []:
        for name, v in ((c.get("resources") or {}).get("limits") or {}).items():
            total[name] = total.get(name, 0) + quantity.milli(v)
    return total


def limits(spec: BatchSpec, cluster: ClusterState) -> list[Limit]:
    """What the namespace's ResourceQuotas and the Kueue queue (if any) still admit.

    Raises:
        ClusterError: `planning.kueue_queue` is not among the source's Kueue objects.
    """
    pod = worker_pod(spec, cluster)
    requests = capacity.pod_requests(pod)
    out = resource_quotas(cluster.quotas, requests, pod_limits(pod))
    name = spec.planning.kueue_queue
    if name and cluster.queues is not None:
        kinds = {(q.get("kind"), (q.get("metadata") or {}).get("name")): q for q in cluster.queues}
        local = kinds.get(("LocalQueue", name))
        target = (local or {}).get("spec", {}).get("clusterQueue")
        cq = kinds.get(("ClusterQueue", target))
        if local is None or cq is None:
            missing = f"LocalQueue {name}" if local is None else f"ClusterQueue {target}"
            raise ClusterError(f"Kueue {missing} not found in {cluster.source}")
        out += kueue_queue(local, cq, requests)
    return out


# pkg/quota/v1/evaluator/core/pods.go validationSet: a quota on one of these makes the
# apiserver refuse any pod with a container that does not declare it ("must specify")
MUST_SPECIFY = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")


def with_defaults(pod_spec: Mapping[str, Any], limitranges: Iterable[Mapping[str, Any]]) -> Any:
    """The pod spec with each container's missing limits/requests from the LimitRanges'
    `type: Container` items (`default`, `defaultRequest`), as the LimitRanger admission plugin
    fills them (plugin/pkg/admission/limitranger, defaultContainerResourceRequirements); a
    request still missing takes its limit (core/v1 defaults, SetDefaults_Pod)."""
    out = copy.deepcopy(dict(pod_spec))
    items = [
        item
        for lr in limitranges
        for item in (lr.get("spec") or {}).get("limits") or []
        if item.get("type") == "Container"
    ]
    for c in [*(out.get("initContainers") or []), *(out.get("containers") or [])]:
        resources = c.setdefault("resources", {})
        limits = dict(resources.get("limits") or {})
        requests = dict(resources.get("requests") or {})
        for item in items:
            for name, value in (item.get("default") or {}).items():
                limits.setdefault(name, str(value))
            for name, value in (item.get("defaultRequest") or {}).items():
                requests.setdefault(name, str(value))
        for name, value in limits.items():
            requests.setdefault(name, value)
        resources.update({k: v for k, v in (("limits", limits), ("requests", requests)) if v})
    return out


def worker_pod(spec: BatchSpec, cluster: ClusterState) -> Any:
    """The worker pod's containers as the namespace admits them (LimitRange defaults in)."""
    return with_defaults(workerpod.pod_spec(spec), cluster.limitranges)


def _declared(resources: Mapping[str, Any]) -> set[str]:
    names = set()
    for name in resources.get("requests") or {}:
        names |= {name, f"requests.{name}"}
    for name in resources.get("limits") or {}:
        names.add(f"limits.{name}")
    return names


def unspecified(spec: BatchSpec, cluster: ClusterState) -> str | None:
    """Why every worker pod would be refused by a quota's "must specify", or None.

    Argo's init and wait containers declare what the controller's executor.resources gives
    them (the spec says it in planning.executor_requests/executor_limits; nothing by default).
    """
    pod = worker_pod(spec, cluster)
    for q in cluster.quotas:
        hard = (q.get("status") or {}).get("hard") or (q.get("spec") or {}).get("hard") or {}
        tracked = [r for r in MUST_SPECIFY if r in hard]
        for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            missing = [r for r in tracked if r not in _declared(c.get("resources") or {})]
            if missing:
                meta = q.get("metadata") or {}
                argo = c["name"] in ("init", "wait")
                who = f"Argo's {c['name']} container" if argo else f"container {c['name']}"
                return (
                    f"ResourceQuota {meta.get('namespace', '')}/{meta.get('name', '?')} tracks"
                    f" {', '.join(missing)}, which {who} does not"
                    " declare, and no LimitRange gives a default: the apiserver refuses every"
                    " pod (must specify); set executor.resources in the"
                    " workflow-controller-configmap (and the same in planning.executor_requests"
                    " and executor_limits), or add a LimitRange with default requests and limits"
                )
    return None
