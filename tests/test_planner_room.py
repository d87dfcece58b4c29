"""A busy cluster: the plan waits for room (re-reading the live API), then fails with why.

The Kubernetes API is a local HTTP server whose documents change while the plan waits.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from minio import Minio
from typer.testing import CliRunner

from generator.cli import app
from generator.clients import kube as cluster
from generator.errors import ClusterError
from generator.local import rclone
from generator.spec import model as spec
from generator.stages import plan as planner
from generator.stages import scale
from tests.conftest import write_spec
from tests.k8s import node, pod
from tests.test_cluster import FakeServer, kubeconfig, paginated

SPEC = "name: t\nservice: {name: s, image: alpine, script: script.sh, cpu: 2, memory: 1Gi}\ninput: {bucket: BUCKET, prefix: in/}\n"


class BusyCluster:
    """One node whose CPU a pod holds until `busy_reads` reads of the pod list are done."""

    def __init__(self, server: FakeServer, busy_reads: int) -> None:
        self.reads = 0
        nodes = [node("n1", cpu="4")]
        server.routes["/api/v1/nodes"] = paginated("Node", nodes)

        def pods(query: Any, headers: dict[str, str]) -> Any:
            self.reads += 1
            busy = self.reads <= busy_reads
            items = [pod("hog", "n1", {"cpu": "3500m"})] if busy else []
            return paginated("Pod", items)(query, headers)

        server.routes["/api/v1/pods"] = pods
        quotas = paginated("ResourceQuota", [])
        server.routes["/api/v1/namespaces/argo/resourcequotas"] = quotas
        server.routes["/api/v1/namespaces/argo/limitranges"] = paginated("LimitRange", [])


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    s = FakeServer()
    yield s
    s.close()


def _spec(tmp_path: Path, extra: str = "") -> spec.BatchSpec:
    return spec.load(write_spec(tmp_path, SPEC.replace("BUCKET", "data") + extra))


def _waiting(config: str, seconds: float, said: list[str]) -> planner.Waiting:
    return planner.Waiting(lambda: cluster.from_api(config), said.append, seconds)


OBJECTS = [("in/a.jpg", 1), ("in/b.jpg", 1)]
ROOMY = cluster.ClusterState([node("n", cpu="64", memory="256Gi")], [], "test")


def test_the_plan_waits_until_room_appears(server: FakeServer, tmp_path: Path) -> None:
    busy = BusyCluster(server, busy_reads=3)
    config = kubeconfig(tmp_path, server.url)
    said: list[str] = []
    plan = planner.run_plan(
        None, _spec(tmp_path), "r", cluster.from_api(config), OBJECTS, write=False,
        waiting=_waiting(config, 3, said),
    )  # fmt: skip
    assert plan.workers == 1 and busy.reads == 4
    assert len(said) == 3 and all(line.startswith("waiting for room (") for line in said)
    assert "cpu" in said[0]  # the reason: which resource is short


def test_the_wait_is_bounded_and_the_failure_says_why(server: FakeServer, tmp_path: Path) -> None:
    BusyCluster(server, busy_reads=10**6)
    config = kubeconfig(tmp_path, server.url)
    said: list[str] = []
    with pytest.raises(ClusterError, match=r"cpu.*\(waited \d+ s for room\)"):
        planner.run_plan(
            None, _spec(tmp_path), "r", cluster.from_api(config), OBJECTS, write=False,
            waiting=_waiting(config, 0.5, said),
        )  # fmt: skip
    assert said


def test_no_wait_fails_at_once(server: FakeServer, tmp_path: Path) -> None:
    busy = BusyCluster(server, busy_reads=10**6)
    config = kubeconfig(tmp_path, server.url)
    s = _spec(tmp_path, "planning: {wait_for_room: 0}\n")
    with pytest.raises(ClusterError) as caught:
        planner.run_plan(
            None, s, "r", cluster.from_api(config), OBJECTS, write=False,
            waiting=_waiting(config, s.planning.wait_for_room, []),
        )  # fmt: skip
    assert "waited" not in str(caught.value) and busy.reads == 1


def test_the_plan_pod_waits_then_leaves_its_reason_for_the_ui(
    server: FakeServer, tmp_path: Path, s3: Minio, bucket: str, s3_env: rclone.S3Server
) -> None:
    BusyCluster(server, busy_reads=10**6)
    s3.put_object(bucket, "in/a.jpg", io.BytesIO(b"x"), 1)
    s = spec.load(
        write_spec(
            tmp_path,
            SPEC.replace("BUCKET", bucket).replace(
                "input: {", f"input: {{endpoint: '{s3_env.endpoint}', "
            )
            + "planning: {wait_for_room: 1}\n",
        )
    )
    spec_json = tmp_path / "spec.json"
    spec_json.write_text(json.dumps(s.model_dump(mode="json")))
    termination = tmp_path / "termination-log"
    termination.write_text("")  # the kubelet creates it in a pod
    out = CliRunner().invoke(
        app,
        ["stage", "plan", "--spec", str(spec_json), "--run", "r1",
         "--shards-out", str(tmp_path / "shards.json"), "--termination-log", str(termination)],
        env={"KUBECONFIG": kubeconfig(tmp_path, server.url)},
    )  # fmt: skip
    assert out.exit_code == 1
    assert "waiting for room (0/1 s)" in out.stderr
    message = termination.read_text()
    assert "waited 1 s for room" in message and "cpu" in message
    assert out.stderr.strip().endswith(message)


def test_the_width_is_capped_by_the_workflow_object_size(tmp_path: Path) -> None:
    s = _spec(tmp_path, "planning: {max_workers: 10000}\n")
    huge = cluster.ClusterState([node(f"n{i}", cpu="64", memory="256Gi") for i in range(400)])
    objects = [(f"in/{i:05d}.jpg", 1) for i in range(10000)]
    plan = planner.run_plan(None, s, "r", huge, objects, write=False)
    assert plan.workers == scale.max_width(s) < 10000
    assert "limited by the workflow object's size" in plan.reason
    # the estimate: the Retry node and every attempt's Pod node, compressed as the packer does
    raw, packed = scale.bytes_per_item(s)
    assert 500 * (s.argo.retries + 2) < raw and packed < raw / 4
    assert plan.workers * packed + scale.fixed_bytes(s) <= scale.LIMIT * scale.SHARE


def test_keys_whose_outputs_would_exceed_the_s3_key_limit_are_unsupported(tmp_path: Path) -> None:
    s = _spec(tmp_path)  # outputs under oscar-batch/<run>/outputs/<key without in/>/
    fits = "in/" + "a/" * 300 + "x.jpg"  # a long but fine key
    over = "in/" + "/".join(c * 240 for c in "bcde") + "/f.jpg"
    assert len(over.encode()) <= 1024  # a valid S3 key itself
    plan = planner.run_plan(None, s, "run-1", ROOMY, [(fits, 1), (over, 1)], write=False)
    assert plan.files == 1
    ((key, reason),) = plan.rejected
    assert key == over
    assert "outputs' keys would exceed S3's 1024 bytes" in reason
    folder = len(f"oscar-batch/run-1/outputs/{over.removeprefix('in/')}/")
    assert f"({folder} before a file name" in reason
