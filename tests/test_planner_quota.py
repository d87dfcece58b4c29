"""Quotas: the namespace's ResourceQuotas and a Kueue queue cap the width, read from the live
API (a local HTTP server speaking it) or a snapshot, and the plan says so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator.build import workflow
from generator.cli import app
from generator.clients import kube as cluster
from generator.errors import ClusterError
from generator.spec import model as spec
from generator.stages import plan as planner
from tests.conftest import write_spec
from tests.k8s import kubectl_list, node
from tests.test_cluster import FakeServer, kubeconfig, paginated

# one worker pod: the service's 1 cpu / 1Gi + two mount sidecars of 100m / 256Mi
SPEC = (
    "name: q\nservice: {name: s, image: alpine, script: script.sh, cpu: 1, memory: 1Gi}\n"
    "input: {bucket: data, prefix: in/}\nargo: {namespace: batch}\n"
)
OBJECTS = [(f"in/{i:03d}.jpg", 1) for i in range(100)]
BIG = [node(f"n{i}", cpu="32", memory="128Gi") for i in range(4)]


def resource_quota(name: str, hard: dict[str, str], used: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": "batch"},
        "spec": {"hard": hard},
        "status": {"hard": hard, "used": used},
    }


def local_queue(name: str, cq: str) -> dict[str, Any]:
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "LocalQueue",
        "metadata": {"name": name, "namespace": "batch"},
        "spec": {"clusterQueue": cq},
    }


def cluster_queue(name: str, nominal: dict[str, str], used: dict[str, str]) -> dict[str, Any]:
    resources = [{"name": r, "nominalQuota": q} for r, q in nominal.items()]
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {
            "resourceGroups": [
                {
                    "coveredResources": list(nominal),
                    "flavors": [{"name": "default", "resources": resources}],
                }
            ]
        },
        "status": {
            "flavorsUsage": [
                {"name": "default", "resources": [{"name": r, "total": u} for r, u in used.items()]}
            ]
        },
    }


# Argo's init and wait containers declare no resources by default: a quota on cpu/memory
# needs a LimitRange to admit them (test_gatekeepers, test_a_quota_without_limitrange_...)
DEFAULTS = {
    "kind": "LimitRange",
    "metadata": {"name": "defaults", "namespace": "batch"},
    "spec": {"limits": [{"type": "Container", "default": {"cpu": "100m", "memory": "128Mi"}}]},
}


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    s = FakeServer()
    s.routes["/api/v1/nodes"] = paginated("Node", BIG)
    s.routes["/api/v1/pods"] = paginated("Pod", [])
    yield s
    s.close()


def _spec(tmp_path: Path, extra: str = "") -> spec.BatchSpec:
    return spec.load(write_spec(tmp_path, SPEC + extra))


def test_a_resource_quota_caps_the_width(server: FakeServer, tmp_path: Path) -> None:
    quota = resource_quota(
        "compute", {"requests.cpu": "10", "limits.memory": "100Gi", "pods": "50"},
        {"requests.cpu": "4500m", "limits.memory": "10Gi", "pods": "3"},
    )  # fmt: skip
    server.routes["/api/v1/namespaces/batch/resourcequotas"] = paginated("ResourceQuota", [quota])
    server.routes["/api/v1/namespaces/batch/limitranges"] = paginated("LimitRange", [DEFAULTS])
    state = cluster.from_api(kubeconfig(tmp_path, server.url), namespace="batch")
    plan = planner.run_plan(None, _spec(tmp_path), "r", state, OBJECTS, write=False)
    # 5.5 cores left / 1.4 per pod (the service 1, two mounts 0.2, the runner 0.1, wait 0.1)
    assert plan.workers == 3
    assert plan.reason == "3 worker(s), limited by ResourceQuota batch/compute requests.cpu"
    fits = {q.resource: q.fits for q in plan.quotas}
    # the wait container's LimitRange default (128Mi) counts too: 90Gi / 1.875Gi
    assert fits == {"requests.cpu": 3, "limits.memory": 48, "pods": 47}


def test_an_exhausted_quota_is_a_reason_to_wait(server: FakeServer, tmp_path: Path) -> None:
    quota = resource_quota("compute", {"requests.memory": "8Gi"}, {"requests.memory": "7Gi"})
    server.routes["/api/v1/namespaces/batch/resourcequotas"] = paginated("ResourceQuota", [quota])
    server.routes["/api/v1/namespaces/batch/limitranges"] = paginated("LimitRange", [DEFAULTS])
    state = cluster.from_api(kubeconfig(tmp_path, server.url), namespace="batch")
    with pytest.raises(ClusterError) as caught:
        planner.run_plan(None, _spec(tmp_path), "r", state, OBJECTS, write=False)
    assert str(caught.value) == (
        "ResourceQuota batch/compute: requests.memory has 1.0Gi left, a worker pod needs 1.7Gi"
    )


def test_a_kueue_queue_caps_the_width_and_labels_the_workers(
    server: FakeServer, tmp_path: Path
) -> None:
    server.routes["/api/v1/namespaces/batch/resourcequotas"] = paginated("ResourceQuota", [])
    server.routes["/api/v1/namespaces/batch/limitranges"] = paginated("LimitRange", [])
    server.routes["/apis/kueue.x-k8s.io/v1beta1/namespaces/batch/localqueues/team-a"] = (
        lambda q, h: (200, local_queue("team-a", "cq-a"))
    )
    server.routes["/apis/kueue.x-k8s.io/v1beta1/clusterqueues/cq-a"] = lambda q, h: (
        200,
        cluster_queue("cq-a", {"cpu": "8", "memory": "64Gi"}, {"cpu": "2", "memory": "1Gi"}),
    )
    s = _spec(tmp_path, "planning: {kueue_queue: team-a}\n")
    state = cluster.from_api(
        kubeconfig(tmp_path, server.url), namespace="batch", kueue_queue="team-a"
    )
    plan = planner.run_plan(None, s, "r", state, OBJECTS, write=False)
    assert plan.workers == 4  # 6 cores left / 1.3
    assert plan.reason.endswith("limited by Kueue ClusterQueue cq-a (LocalQueue team-a) cpu")
    worker = next(
        t for t in yaml.safe_load(workflow.to_yaml(s))["spec"]["templates"] if t["name"] == "worker"
    )
    assert worker["metadata"]["labels"] == {"kueue.x-k8s.io/queue-name": "team-a"}


def test_a_missing_kueue_queue_is_one_line(server: FakeServer, tmp_path: Path) -> None:
    server.routes["/api/v1/namespaces/batch/resourcequotas"] = paginated("ResourceQuota", [])
    server.routes["/api/v1/namespaces/batch/limitranges"] = paginated("LimitRange", [])
    with pytest.raises(ClusterError, match=r"refused to get Kueue LocalQueue batch/nope.*404"):
        cluster.from_api(kubeconfig(tmp_path, server.url), namespace="batch", kueue_queue="nope")


def test_plan_shows_quotas_from_a_snapshot(tmp_path: Path) -> None:
    snapshot = tmp_path / "cluster.json"
    snapshot.write_text(
        json.dumps(
            kubectl_list(
                *BIG,
                resource_quota("compute", {"requests.cpu": "10"}, {"requests.cpu": "4500m"}),
                DEFAULTS,
                local_queue("team-a", "cq-a"),
                cluster_queue("cq-a", {"cpu": "100"}, {"cpu": "0"}),
            )
        )
    )
    objects = tmp_path / "objects.jsonl"
    objects.write_text("".join(json.dumps({"key": k, "size": 1}) + "\n" for k, _ in OBJECTS))
    path = write_spec(tmp_path, SPEC + "planning: {kueue_queue: team-a}\n")
    out = CliRunner().invoke(
        app,
        ["plan", str(path), "--cluster-from", str(snapshot), "--objects-from", str(objects)],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.stderr
    assert "Quotas" in out.stdout and "ResourceQuota batch/compute" in out.stdout
    assert "limited by ResourceQuota batch/compute requests.cpu" in out.stdout
    as_json = CliRunner().invoke(
        app,
        ["plan", str(path), "--cluster-from", str(snapshot), "--objects-from", str(objects),
         "-o", "json"],
    )  # fmt: skip
    quotas = json.loads(as_json.stdout)["quotas"]
    assert (
        {q["source"]: q["fits"] for q in quotas}
        == {
            "ResourceQuota batch/compute": 3,
            "Kueue ClusterQueue cq-a (LocalQueue team-a)": 71,  # 100 cores / (1.3 + the wait container's 0.1 default)
        }
    )
