"""Per-node fit, the way kube-scheduler counts: fragmentation, taints, cordons, GPUs, pod limits."""

from __future__ import annotations

from generator.spec.model import Toleration
from generator.stages import capacity
from tests.k8s import node, pod

CPU1 = {"cpu": 1000, "memory": 2 * 2**30 * 1000}


def fits(nodes, pods, request=CPU1, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("selector", {})
    kw.setdefault("tolerations", ())
    return {f.name: f for f in capacity.fit_cluster(nodes, pods, request, **kw)}


def test_fragmented_cluster_counts_per_node_not_totals() -> None:
    # 4 nodes with 1.5 free cores each: cluster-wide 6 cores free, but only one 1-core worker per node.
    nodes = [node(f"n{i}", cpu="2") for i in range(4)]
    pods = [pod(f"p{i}", f"n{i}", {"cpu": "500m", "memory": "1Gi"}) for i in range(4)]
    result = fits(nodes, pods)
    assert {n: f.fits for n, f in result.items()} == {"n0": 1, "n1": 1, "n2": 1, "n3": 1}
    assert sum(f.fits for f in result.values()) == 4  # the original's total/request would say 6


def test_mixed_bottlenecks() -> None:
    nodes = [node("cpu-poor", cpu="2", memory="64Gi"), node("mem-poor", cpu="32", memory="5Gi")]
    result = fits(nodes, [])
    assert (result["cpu-poor"].fits, result["cpu-poor"].bottleneck) == (2, "cpu")
    assert (result["mem-poor"].fits, result["mem-poor"].bottleneck) == (2, "memory")


def test_finished_pods_free_their_resources() -> None:
    nodes = [node("n", cpu="2")]
    pods = [
        pod("done", "n", {"cpu": "2"}, phase="Succeeded"),
        pod("failed", "n", {"cpu": "2"}, phase="Failed"),
        pod("pending-unbound", None, {"cpu": "2"}, phase="Pending"),
    ]
    assert fits(nodes, pods)["n"].fits == 2


def test_limits_stand_in_for_missing_requests() -> None:
    pods = [pod("p", "n", limits={"cpu": "3", "memory": "1Gi"})]
    assert fits([node("n", cpu="4")], pods)["n"].fits == 1


def test_init_containers_and_overhead() -> None:
    big_init = pod("p", "n", {"cpu": "500m"}, init=[{"cpu": "2"}], overhead={"cpu": "250m"})
    # effective request: max(0.5, 2) + 0.25 = 2.25 of 4 cores -> 1.75 free -> 1 worker
    assert fits([node("n", cpu="4")], [big_init])["n"].fits == 1
    assert capacity.pod_requests(big_init["spec"]) == {"cpu": 2250}


def test_native_sidecars_add_to_the_sum() -> None:
    spec = {
        "containers": [{"resources": {"requests": {"cpu": "1"}}}],
        "initContainers": [
            {"restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
            {"resources": {"requests": {"cpu": "1"}}},
        ],
    }
    assert capacity.pod_requests(spec) == {"cpu": 1500}


def test_cordoned_not_ready_and_selector() -> None:
    nodes = [
        node("cordoned", unschedulable=True),
        node("down", ready=False),
        node("other-zone", labels={"zone": "b"}),
        node("ok", labels={"zone": "a"}),
    ]
    result = fits(nodes, [], selector={"zone": "a"})
    assert result["cordoned"].excluded == "cordoned"
    assert result["down"].excluded == "not Ready"
    assert "nodeSelector" in (result["other-zone"].excluded or "")
    assert result["ok"].fits == 4


def test_taints_need_tolerations() -> None:
    gpu_taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    nodes = [
        node("gpu", taints=[gpu_taint]),
        node("soft", taints=[{"key": "x", "effect": "PreferNoSchedule"}]),
        node("evict", taints=[{"key": "y", "effect": "NoExecute"}]),
    ]
    result = fits(nodes, [])
    assert result["gpu"].fits == 0 and "nvidia.com/gpu=present:NoSchedule" in (
        result["gpu"].excluded or ""
    )
    assert result["soft"].fits == 4  # PreferNoSchedule does not keep pods away
    assert result["evict"].fits == 0
    tolerated = fits(nodes, [], tolerations=[Toleration(key="nvidia.com/gpu", operator="Exists")])
    assert tolerated["gpu"].fits == 4
    equal = fits(nodes, [], tolerations=[Toleration(key="nvidia.com/gpu", value="absent")])
    assert equal["gpu"].fits == 0
    everything = fits(nodes, [], tolerations=[Toleration(operator="Exists")])
    assert everything["evict"].fits == 4


def test_gpu_nodes() -> None:
    request = {**CPU1, "nvidia.com/gpu": 1000}
    nodes = [
        node("a100", cpu="32", memory="128Gi", gpu="4"),
        node("cpu-only", cpu="32", memory="128Gi"),
    ]
    pods = [
        pod("training", "a100", {"cpu": "1", "nvidia.com/gpu": "3"}, limits={"nvidia.com/gpu": "3"})
    ]
    result = fits(nodes, pods, request)
    assert (result["a100"].fits, result["a100"].bottleneck) == (1, "nvidia.com/gpu")
    assert (result["cpu-only"].fits, result["cpu-only"].bottleneck) == (0, "nvidia.com/gpu")


def test_pod_count_limit() -> None:
    pods = [pod(f"p{i}", "n", {"cpu": "10m"}) for i in range(108)]
    result = fits([node("n", cpu="64", memory="256Gi", pods="110")], pods)
    assert (result["n"].fits, result["n"].bottleneck) == (2, "pods")


def test_headroom_scales_free_resources() -> None:
    assert fits([node("n", cpu="4", memory="64Gi")], [], headroom=0.5)["n"].fits == 2


def test_other_requested_resources_count_too() -> None:
    request = {**CPU1, "example.com/fpga": 1000}
    nodes = [node("fpga", extra={"example.com/fpga": "1"}), node("plain")]
    result = fits(nodes, [], request)
    assert result["fpga"].fits == 1 and result["plain"].fits == 0


def test_why_nothing_fits_names_resources_and_nodes() -> None:
    nodes = [node("small", cpu="500m"), node("cordoned", unschedulable=True)]
    result = capacity.fit_cluster(nodes, [], CPU1, selector={}, tolerations=())
    line = capacity.why_nothing_fits(result, CPU1)
    assert "not enough cpu (need 1)" in line and "small has 0.5" in line
    assert "cordoned: cordoned" in line
    assert capacity.why_nothing_fits([], CPU1) == "the cluster has no nodes"


def test_the_worker_pod_counts_service_sidecars_and_argo_executor(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from generator.build import workerpod
    from generator.spec import model as spec
    from tests.conftest import write_spec

    base = "name: t\nservice: {name: s, image: a, script: script.sh, cpu: '1', memory: 1Gi, gpu: 1}\ninput: {bucket: inbox}\noutput: {bucket: outbox}\n"
    plain = spec.load(write_spec(tmp_path, base))
    # the runner (100m / 64Mi), the service, one rclone sidecar per bucket (100m / 256Mi each)
    assert capacity.pod_requests(workerpod.pod_spec(plain)) == {
        "cpu": 1300,
        "memory": (2**30 + 64 * 2**20 + 2 * 256 * 2**20) * 1000,
        "nvidia.com/gpu": 1000,
    }
    argo = spec.load(
        write_spec(tmp_path, base + "planning: {executor_requests: {cpu: 10m, memory: 64Mi}}\n")
    )
    assert capacity.pod_requests(workerpod.pod_spec(argo))["cpu"] == 1310
