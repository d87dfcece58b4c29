"""Read a cluster's Nodes and Pods: live through the official kubernetes client, from a
`kubectl get -o json` snapshot, from an OSCAR cluster's /system/status, or this machine.

Every source yields objects in the Kubernetes API's JSON shape, so `capacity` has one input.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.clients import oscar
from generator.errors import ClusterError
from generator.spec import quantity, urls
from generator.spec.yamlfile import read_text

PAGE = 500
# (connect, read) seconds per request: the client has none by default, so an API that accepts
# and never answers would hold the plan forever (urllib3 still retries a timed-out GET)
REQUEST_TIMEOUT = (10.0, 60.0)
# `kubectl get nodes,pods -A -o json` of ~10,000 pods; larger snapshots are refused, not loaded
MAX_SNAPSHOT_BYTES = 256 << 20


KUEUE = ("kueue.x-k8s.io", "v1beta1")
QUOTA_KINDS = ("ResourceQuota", "LimitRange")
QUEUE_KINDS = ("LocalQueue", "ClusterQueue")


@dataclass(frozen=True)
class ClusterState:
    """The nodes and the pods bound to them, plus where they were read from.

    `quotas` are the workflow namespace's ResourceQuotas; `queues` the Kueue LocalQueue and
    ClusterQueue objects, None when the source could not say (then Kueue caps nothing);
    `limitranges` the namespace's LimitRanges (their defaults fill containers' resources).
    """

    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    quotas: list[dict[str, Any]] = field(default_factory=list)
    queues: list[dict[str, Any]] | None = None
    limitranges: list[dict[str, Any]] = field(default_factory=list)


def from_snapshot(paths: Iterable[Path]) -> ClusterState:
    """Nodes and Pods from files printed by `kubectl get nodes,pods -A -o json` (or one each),
    and any ResourceQuota, LocalQueue and ClusterQueue objects in them (`kubectl get
    resourcequotas,localqueues,clusterqueues -n NS -o json`)."""
    nodes: list[dict[str, Any]] = []
    pods: list[dict[str, Any]] = []
    quotas: list[dict[str, Any]] = []
    queues: list[dict[str, Any]] = []
    limitranges: list[dict[str, Any]] = []
    names = []
    for path in paths:
        names.append(str(path))
        text = read_text(path, "cluster snapshot", MAX_SNAPSHOT_BYTES, ClusterError)
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ClusterError(f"{path}: not JSON ({exc})") from None
        except RecursionError:
            raise ClusterError(f"{path}: not a snapshot: JSON nested too deeply") from None
        items = doc.get("items") if isinstance(doc, dict) else None
        known = ("Node", "Pod", *QUOTA_KINDS, *QUEUE_KINDS)
        if items is None:
            items = [doc] if isinstance(doc, dict) and doc.get("kind") in known else None
        if not isinstance(items, list):
            raise ClusterError(f"{path}: expected the JSON of `kubectl get nodes,pods -A -o json`")
        list_kind = str(doc.get("kind", "")).removesuffix("List")
        for i, item in enumerate(items):
            kind = (item.get("kind") if isinstance(item, dict) else None) or list_kind
            if kind == "Node":
                nodes.append(_checked_node(item, f"{path}: items[{i}]"))
            elif kind == "Pod":
                pods.append(_checked_pod(item, f"{path}: items[{i}]"))
            elif kind == "ResourceQuota":
                quotas.append(_mapping(item, f"{path}: items[{i}]"))
            elif kind == "LimitRange":
                limitranges.append(_mapping(item, f"{path}: items[{i}]"))
            elif kind in QUEUE_KINDS:
                queues.append(_mapping(item, f"{path}: items[{i}]"))
    if not nodes:
        raise ClusterError(f"{', '.join(names)}: no Node objects found")
    return ClusterState(nodes, pods, " + ".join(names), quotas, queues or None, limitranges)


def _mapping(doc: Any, where: str, *keys: str) -> dict[str, Any]:
    """doc[keys...] as a mapping ({} when absent), or a one-line ClusterError naming the path."""
    for key in keys:
        if not isinstance(doc, dict):
            break
        where, doc = f"{where}.{key}", doc.get(key)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ClusterError(f"{where}: expected a mapping, got {type(doc).__name__}")
    return doc


def _list_of_mappings(doc: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ClusterError(f"{where}.{key}: expected a list of mappings")
    return value


def _quantities(values: dict[str, Any], where: str) -> None:
    for name, value in values.items():
        try:
            quantity.parse(value)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ClusterError(f"{where}.{name}: {exc}") from None


def _checked_node(node: Any, where: str) -> dict[str, Any]:
    """A Node whose fields `capacity` reads have the API's shape (one line otherwise)."""
    _mapping(node, where)
    _mapping(node, where, "metadata")
    status = _mapping(node, where, "status")
    _quantities(_mapping(status, f"{where}.status", "allocatable"), f"{where}.status.allocatable")
    _list_of_mappings(status, "conditions", f"{where}.status")
    _list_of_mappings(_mapping(node, where, "spec"), "taints", f"{where}.spec")
    return dict(node)


def _checked_pod(pod: Any, where: str) -> dict[str, Any]:
    """A Pod whose fields `capacity` reads have the API's shape (one line otherwise)."""
    _mapping(pod, where)
    _mapping(pod, where, "status")
    spec = _mapping(pod, where, "spec")
    for kind in ("containers", "initContainers"):
        for j, container in enumerate(_list_of_mappings(spec, kind, f"{where}.spec")):
            at = f"{where}.spec.{kind}[{j}].resources"
            resources = _mapping(container, f"{where}.spec.{kind}[{j}]", "resources")
            for part in ("limits", "requests"):
                _quantities(_mapping(resources, at, part), f"{at}.{part}")
    _quantities(_mapping(spec, f"{where}.spec", "overhead"), f"{where}.spec.overhead")
    return dict(pod)


def _pages(api: Any, path: str, **query: str) -> list[dict[str, Any]]:
    """Every item of a list at `path`, page by page, as plain JSON.

    Through the official client's ApiClient as its generated calls make the request
    (`param_serialize`, `call_api`, non-2xx raised as ApiException: _call_with_legacy_options),
    without them: importing CoreV1Api builds ~260 pydantic models, ~0.6 s of every plan pod.
    """
    from kubernetes.client.exceptions import ApiException

    items: list[dict[str, Any]] = []
    token = None
    while True:
        pairs = [("limit", str(PAGE)), *query.items(), *([("continue", token)] if token else [])]
        request = api.param_serialize(
            method="GET",
            resource_path=path,
            query_params=pairs,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        doc = json.loads(response.data)
        items += doc.get("items") or []
        token = (doc.get("metadata") or {}).get("continue")
        if not token:
            return items


def from_api(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    namespace: str | None = None,
    kueue_queue: str | None = None,
) -> ClusterState:
    """Nodes and non-terminated Pods from the live cluster (in-cluster, else kubeconfig);
    with `namespace`, its ResourceQuotas, and with `kueue_queue`, that LocalQueue and its
    ClusterQueue.

    Raises:
        ClusterError: no configuration, the API is unreachable, or access is refused.
    """
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError, ReadTimeoutError

    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            where = "in-cluster service account"
        else:
            # the client reads KUBECONFIG once, at import: read it now
            kubeconfig = kubeconfig or os.environ.get("KUBECONFIG")
            config.load_kube_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
            where = kubeconfig or "~/.kube/config"
    except (ConfigException, OSError) as exc:
        raise ClusterError(
            f"no Kubernetes configuration ({exc}); use --cluster-from FILE"
        ) from None
    api = client.ApiClient()
    what = "list nodes/pods"
    queues: list[dict[str, Any]] | None = None
    try:
        nodes = _pages(api, "/api/v1/nodes")
        pods = _pages(
            api, "/api/v1/pods", fieldSelector="status.phase!=Succeeded,status.phase!=Failed"
        )
        quotas: list[dict[str, Any]] = []
        limitranges: list[dict[str, Any]] = []
        if namespace:
            where_ns = f"/api/v1/namespaces/{urllib.parse.quote(namespace, safe='')}"
            what = f"list resourcequotas in {namespace}"
            quotas = _pages(api, f"{where_ns}/resourcequotas")
            what = f"list limitranges in {namespace}"
            limitranges = _pages(api, f"{where_ns}/limitranges")
        if namespace and kueue_queue:
            what = f"get Kueue LocalQueue {namespace}/{kueue_queue} and its ClusterQueue"
            custom = client.CustomObjectsApi(api)
            local: dict[str, Any] = custom.get_namespaced_custom_object(  # type: ignore[assignment]
                *KUEUE, namespace, "localqueues", kueue_queue, _request_timeout=REQUEST_TIMEOUT
            )
            cq = str((local.get("spec") or {}).get("clusterQueue", ""))
            found: dict[str, Any] = custom.get_cluster_custom_object(  # type: ignore[assignment]
                *KUEUE, "clusterqueues", cq, _request_timeout=REQUEST_TIMEOUT
            )
            queues = [local, found]
    except ApiException as exc:
        raise ClusterError(
            f"Kubernetes API refused to {what}: {exc.status} {exc.reason}{_status_message(exc)}"
        ) from None
    except (HTTPError, OSError) as exc:
        host = client.Configuration.get_default_copy().host
        cause = getattr(exc, "reason", None) or exc
        if isinstance(cause, ReadTimeoutError):
            raise ClusterError(
                f"the Kubernetes API at {host} did not answer within {REQUEST_TIMEOUT[1]:g} s"
            ) from None
        raise ClusterError(
            f"cannot reach the Kubernetes API at {host}: {type(exc).__name__}"
        ) from None
    return ClusterState(nodes, pods, where, quotas, queues, limitranges)


def _status_message(exc: Any) -> str:
    """The apiserver's own words from a Status body (e.g. which user cannot list what)."""
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        return ""
    return f": {message}" if isinstance(message, str) and message else ""


def _synthetic(
    name: str, capacity: dict[str, str], used: dict[str, str], ready: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    node = {
        "metadata": {"name": name},
        "status": {
            "allocatable": {"pods": "110", **capacity},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }
    pod = {
        "spec": {"nodeName": name, "containers": [{"resources": {"requests": used}}]},
        "status": {"phase": "Running"},
    }
    return node, pod


def parse_oscar_status(doc: Any, source: str) -> ClusterState:
    """Both shapes of OSCAR's /system/status (up to v3.6.4, and since v3.6.5) as nodes and pods.

    Requests are used where OSCAR reports them (what the scheduler counts), else usage.
    """
    nodes, pods = [], []
    try:
        if isinstance(doc, dict) and isinstance(doc.get("cluster"), dict):
            for n in doc["cluster"].get("nodes") or []:
                if n.get("is_interlink"):
                    continue
                cpu, mem = n.get("cpu") or {}, n.get("memory") or {}
                capacity = {
                    "cpu": f"{int(cpu['capacity_cores'])}m",
                    "memory": str(int(mem["capacity_bytes"])),
                }
                used = {
                    "cpu": f"{int(cpu.get('request_cores', cpu.get('usage_cores', 0)))}m",
                    "memory": str(int(mem.get("request_bytes", mem.get("usage_bytes", 0)))),
                }
                gpu = n.get("gpu")
                if isinstance(gpu, int | float) and gpu:
                    capacity["nvidia.com/gpu"] = str(int(gpu))
                status = str(n.get("status", "Ready"))
                node, pod = _synthetic(
                    str(n["name"]), capacity, used, status.lower() in ("ready", "true")
                )
                nodes.append(node)
                pods.append(pod)
        elif isinstance(doc, dict) and isinstance(doc.get("detail"), list):
            for n in doc["detail"]:
                capacity = {
                    "cpu": f"{int(n['cpuCapacity'])}m",
                    "memory": str(int(n["memoryCapacity"])),
                }
                used = {"cpu": f"{int(n['cpuUsage'])}m", "memory": str(int(n["memoryUsage"]))}
                node, pod = _synthetic(str(n["nodeName"]), capacity, used, True)
                nodes.append(node)
                pods.append(pod)
        else:
            raise KeyError("cluster or detail")
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise ClusterError(
            f"{source}: not an OSCAR /system/status document"
            f" ({f'missing {exc}' if isinstance(exc, KeyError) else exc})"
        ) from None
    if not nodes:
        raise ClusterError(f"{source}: the OSCAR cluster reports no worker nodes")
    return ClusterState(nodes, pods, source)


def from_oscar(
    url: str, *, user: str | None, password: str | None, token: str | None
) -> ClusterState:
    """GET <url>/system/status with basic or bearer auth."""
    urls.no_credentials(
        url,
        "--oscar",
        "--oscar-user and --oscar-password (OSCAR_USER, OSCAR_PASSWORD)",
        ClusterError,
    )
    endpoint = url.rstrip("/") + "/system/status"
    doc = oscar.get_json(oscar.Cluster(url, user, password, token), "/system/status")
    return parse_oscar_status(doc, endpoint)


def this_machine() -> ClusterState:
    """This computer as a one-node cluster (for `run --local`): its CPUs and available memory."""
    cpus = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        memory = 0
    memory = memory or 4 * 2**30
    node, _ = _synthetic("localhost", {"cpu": str(cpus), "memory": str(memory)}, {}, True)
    return ClusterState([node], [], "this machine")
