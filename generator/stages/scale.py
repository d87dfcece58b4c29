"""How wide one workflow may fan out before its object outgrows etcd's limit (pure).

Each withParam item adds nodes to the Workflow's `status.nodes`: a Retry node and one Pod node
per attempt (pkg/apis/workflow/v1alpha1/workflow_types.go, NodeStatus). The controller keeps
the whole object under MAX_WORKFLOW_SIZE (default 1 MiB, workflow/packer/packer.go): past it,
the nodes are gzip-compressed into `status.compressedNodes`; past it compressed, the workflow
fails unless node status offloading (a database) is configured. We size the nodes as Argo
would write them for a worst case (every attempt used, failed with a message) and compress
them the way the packer does, then keep the estimate within half the limit.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
from functools import lru_cache
from typing import Any

from generator.spec.model import BatchSpec

LIMIT = 1024 * 1024  # MAX_WORKFLOW_SIZE's default
SHARE = 0.5  # of the limit the nodes may take: the rest is the spec (twice) and headroom
SAMPLE = 200  # items in the measured sample


def _id(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:10]


def _node(wf: str, name: str, kind: str, n: int, attempt: int | None, shard: str) -> dict[str, Any]:
    """One NodeStatus as the controller writes it (the fields it fills for our templates)."""
    node: dict[str, Any] = {
        "id": f"{wf}-{int(_id(n, attempt), 16) % 10**10}",
        "name": f"{wf}.work({n}:{shard})" + (f"({attempt})" if attempt is not None else ""),
        "displayName": f"work({n}:{shard})" + (f"({attempt})" if attempt is not None else ""),
        "type": kind,
        "templateName": "worker",
        "templateScope": f"local/{wf}",
        "phase": "Failed",
        "boundaryID": f"{wf}-1234567890",
        "message": "Error (exit code 1): oscar-batch: the bucket mount disappeared",
        "startedAt": f"2026-01-01T{n % 24:02d}:{n % 60:02d}:{attempt or 0:02d}Z",
        "finishedAt": f"2026-01-01T{n % 24:02d}:{(n + 7) % 60:02d}:{attempt or 0:02d}Z",
        "progress": "137/200",
        "resourcesDuration": {"cpu": 3600 + n, "memory": 7200 + n},
        "inputs": {"parameters": [{"name": "shard", "value": shard}]},
        "children": [],
    }
    if kind == "Pod":
        node |= {
            "hostNodeName": f"node-{_id(n)[:5]}",
            "podIP": f"10.{n % 250}.{attempt or 0}.{n % 200}",
            "outputs": {"exitCode": "1"},
            "nodeFlag": {"retried": True},
            "taskResultSynced": True,
        }
    return node


@lru_cache(maxsize=8)
def _bytes_per_item(retries: int, name: str) -> tuple[float, float]:
    wf = f"{name}-x7k2q"
    nodes: dict[str, Any] = {}
    for n in range(SAMPLE):
        for node in _sample_nodes(retries, wf, n):
            nodes[node["id"]] = node
    raw = json.dumps(nodes, separators=(",", ":")).encode()
    # the packer's file.CompressEncodeString: gzip, then base64
    packed = base64.b64encode(gzip.compress(raw))
    return len(raw) / SAMPLE, len(packed) / SAMPLE


def _sample_nodes(retries: int, wf: str, n: int) -> list[dict[str, Any]]:
    """The nodes one withParam item can add: the Retry node and every attempt's Pod node."""
    attempts = retries + 1
    shard = f"{n:04d}"
    retry = _node(wf, "work", "Retry", n, None, shard)
    pods = [_node(wf, "work", "Pod", n, a, shard) for a in range(attempts)]
    retry["children"] = [p["id"] for p in pods]
    return [retry, *pods]


def bytes_per_item(spec: BatchSpec) -> tuple[float, float]:
    """(uncompressed, compressed) bytes one withParam item costs in the Workflow object."""
    return _bytes_per_item(spec.argo.retries, spec.name)


def fixed_bytes(spec: BatchSpec) -> int:
    """What the object holds whatever the width: the spec (without the script's text) in two
    templates, the script once, the runner, and all of it again in
    status.storedWorkflowTemplateSpec."""
    staged = spec.for_stages()
    spec_json = len(json.dumps(staged.model_dump(mode="json"), indent=1))
    script = staged.service.script_ref.bytes if staged.service.script_ref else 0
    return 2 * (2 * spec_json + script + 16 * 1024)


def max_width(spec: BatchSpec) -> int:
    """The widest fan-out whose nodes, compressed as Argo would, stay within SHARE of LIMIT."""
    _, packed = bytes_per_item(spec)
    room = LIMIT * SHARE - fixed_bytes(spec)
    return max(1, math.floor(room / packed))
