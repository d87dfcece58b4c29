"""The local cluster's gatekeepers, each with a pod it must refuse and one it must admit: Argo's
injected containers, the kubelet's runAsNonRoot check, Pod Security and ResourceQuota
admission, RBAC. Pure: pods are built from the generated YAML as Argo's controller builds them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from generator.build import rbac, workflow
from generator.errors import RunError
from generator.local import admission, argopod, authz, cluster, imageuser
from generator.local.objects import Objects
from generator.spec import model as spec
from tests.conftest import EXAMPLES

FISH = EXAMPLES / "fish-detector" / "batch.yaml"
RESTRICTED_EXECUTOR = {
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 8737,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "resources": {
        "requests": {"cpu": "10m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    },
}


@pytest.fixture(scope="module")
def fish() -> spec.BatchSpec:
    return spec.load(FISH)


def _spec_doc(s: spec.BatchSpec) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(workflow.to_yaml(s))
    return doc


def pod_of(s: spec.BatchSpec, template: str, executor: dict[str, Any] | None = None) -> Any:
    """The Pod Argo's controller creates for one of the spec's templates."""
    doc = _spec_doc(s)
    wf = doc["spec"]
    tpl = next(t for t in wf["templates"] if t["name"] == template)
    return argopod.pod(
        tpl, wf, name=f"{s.name}-{template}-1", namespace=s.argo.namespace, executor=executor or {}
    )


def gatekeepers(s: spec.BatchSpec, *extra: dict[str, Any]) -> cluster.Cluster:
    objects = Objects()
    objects.apply_all(rbac.manifests(s), "rbac", s.argo.namespace)
    objects.apply_all(extra, "test", s.argo.namespace)
    return cluster.Cluster(objects, s.argo.runtime_image)


def namespace(level: str, name: str = "argo") -> dict[str, Any]:
    labels = {"pod-security.kubernetes.io/enforce": level}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def controller_config(executor: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "workflow-controller-configmap", "namespace": "argo"},
        "data": {"executor": yaml.safe_dump(executor)},
    }


# --- 1. Argo's injected containers (workflowpod.go newExecContainer) -------------------------


def test_argo_adds_init_and_wait_from_the_controllers_executor_config(fish: spec.BatchSpec) -> None:
    default = pod_of(fish, "worker")
    names = [c["name"] for c in default["spec"]["containers"]]
    assert names == ["wait", "main", "service", "mount-0", "mount-1"]
    (init,) = default["spec"]["initContainers"]
    for c in (init, default["spec"]["containers"][0]):
        assert "argoexec" in c["image"]
        # nil by default: no resources, no securityContext
        assert c["resources"] == {} and "securityContext" not in c
    configured = pod_of(fish, "worker", RESTRICTED_EXECUTOR)
    wait = configured["spec"]["containers"][0]
    assert wait["securityContext"]["runAsUser"] == 8737
    assert wait["resources"]["limits"]["cpu"] == "500m"
    # the controller's ConfigMap, in either of its forms, is the source
    objects = Objects()
    objects.apply(controller_config(RESTRICTED_EXECUTOR), "cm", "argo")
    assert objects.executor() == RESTRICTED_EXECUTOR
    old_form = controller_config({})
    old_form["data"] = {"config": yaml.safe_dump({"executor": RESTRICTED_EXECUTOR})}
    objects.apply(old_form, "cm", "argo")
    assert objects.executor() == RESTRICTED_EXECUTOR


def test_a_pod_without_token_and_without_executor_account_is_refused_by_argo(
    fish: spec.BatchSpec,
) -> None:
    doc = _spec_doc(fish)
    tpl = next(t for t in doc["spec"]["templates"] if t["name"] == "worker")
    assert argopod.pod(tpl, doc["spec"], name="w", namespace="argo", executor={})
    del tpl["executor"]
    with pytest.raises(RunError, match=r"executor\.serviceAccountName must not be empty"):
        argopod.pod(tpl, doc["spec"], name="w", namespace="argo", executor={})


# --- 2. the kubelet: runAsNonRoot against the image's user (verifyRunAsNonRoot) --------------


def test_kubelet_refuses_runasnonroot_without_uid_on_a_root_image(fish: spec.BatchSpec) -> None:
    pod = pod_of(fish, "plan")
    del pod["spec"]["securityContext"]["runAsUser"]  # the pod-level part before issue 19
    why = gatekeepers(fish).kubelet_refusal(pod)
    assert why == (
        "CreateContainerConfigError: container has runAsNonRoot and image will run as root"
        f' (pod: "{pod["metadata"]["name"]}_argo", container: init)'
    )


def test_kubelet_admits_the_generated_plan_and_aggregate(fish: spec.BatchSpec) -> None:
    for template in ("plan", "aggregate", "worker"):
        assert gatekeepers(fish).kubelet_refusal(pod_of(fish, template)) is None


def test_image_user_table() -> None:
    runtime = "ghcr.io/grycap/oscar-batch:0.1.0"
    assert imageuser.user_of(runtime, runtime, {}) == "10001"
    assert imageuser.user_of("rclone/rclone:1.68.2", runtime, {}) == "0"
    assert imageuser.user_of("quay.io/argoproj/argoexec:v4.1.2", runtime, {}) == "0"
    assert imageuser.user_of("quay.io/argoproj/argoexec:v4.1.2-nonroot", runtime, {}) == "8737"
    assert imageuser.user_of("alpine:3.20", runtime, {}) == "0"  # unknown: root
    assert imageuser.user_of("alpine:3.20", runtime, {"alpine": "1000"}) == "1000"
    assert imageuser.user_of("localhost:5000/app", runtime, {"localhost:5000/app": "app"}) == "app"
    pod = {"metadata": {"name": "p", "namespace": "n"}, "spec": {}}
    non_root = {"name": "c", "securityContext": {"runAsNonRoot": True}}
    assert imageuser.refusal(pod, non_root, "1000") is None
    assert "non-numeric user (app)" in str(imageuser.refusal(pod, non_root, "app"))
    as_root = {"name": "c", "securityContext": {"runAsNonRoot": True, "runAsUser": 0}}
    assert "runAsUser breaks non-root policy" in str(imageuser.refusal(pod, as_root, "1000"))


# --- 3. admission: Pod Security, LimitRange, ResourceQuota ----------------------------------


def test_pod_security_baseline_refuses_the_privileged_sidecar_and_admits_plan(
    fish: spec.BatchSpec,
) -> None:
    keeper = gatekeepers(fish, namespace("baseline"))
    worker = pod_of(fish, "worker")
    _, refusal = keeper.admit(worker, [])
    assert refusal is not None and not refusal.transient
    assert refusal.message == (
        f'pods "{worker["metadata"]["name"]}" is forbidden: violates PodSecurity'
        ' "baseline:latest": privileged (containers "mount-0", "mount-1" must not set'
        " securityContext.privileged=true)"
    )
    assert "enforce=privileged" in cluster.remedy(refusal.message)
    assert keeper.admit(pod_of(fish, "plan"), [])[1] is None
    assert gatekeepers(fish, namespace("privileged")).admit(worker, [])[1] is None


def test_pod_security_restricted_needs_argos_containers_locked_down(fish: spec.BatchSpec) -> None:
    keeper = gatekeepers(fish, namespace("restricted"))
    _, refusal = keeper.admit(pod_of(fish, "plan"), [])
    assert refusal is not None
    assert 'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false' in (
        refusal.message
    )
    assert 'containers "init", "wait" must set securityContext.allowPrivilegeEscalation' in (
        refusal.message
    )
    assert 'containers "init", "wait" must set securityContext.capabilities.drop=["ALL"]' in (
        refusal.message
    )
    assert "executor" in cluster.remedy(refusal.message)
    for template in ("plan", "aggregate"):
        assert keeper.admit(pod_of(fish, template, RESTRICTED_EXECUTOR), [])[1] is None


def test_pod_security_message_follows_the_registry_order() -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "hostNetwork": True,
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "containers": [
                {"name": "a", "securityContext": {"runAsUser": 0, "privileged": True}},
            ],
        },
    }
    assert admission.pod_security(pod, "baseline") == (
        'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true),'
        ' hostPath volumes (volume "h"), privileged (container "a" must not set'
        " securityContext.privileged=true)"
    )
    restricted = str(admission.pod_security(pod, "restricted"))
    assert "hostPath volumes" not in restricted  # restrictedVolumes overrides it
    assert 'restricted volume types (volume "h" uses restricted volume type "hostPath")' in (
        restricted
    )
    assert 'runAsUser=0 (container "a" must not set runAsUser=0)' in restricted


def quota(hard: dict[str, str], name: str = "compute") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": "argo"},
        "spec": {"hard": hard},
    }


LIMITS = quota({"requests.cpu": "8", "requests.memory": "16Gi", "limits.cpu": "16",
                "limits.memory": "32Gi"})  # fmt: skip


def test_quota_must_specify_refuses_argos_containers_without_resources(
    fish: spec.BatchSpec,
) -> None:
    keeper = gatekeepers(fish, LIMITS)
    plan = pod_of(fish, "plan")
    _, refusal = keeper.admit(plan, [])
    assert refusal is not None and not refusal.transient
    assert refusal.message.startswith(
        f'pods "{plan["metadata"]["name"]}" is forbidden: failed quota: compute: must specify'
    )
    assert "limits.cpu for: init,wait" in refusal.message
    assert "executor.resources" in cluster.remedy(refusal.message)
    # the controller's executor.resources, or a LimitRange's defaults, satisfy it
    for template in ("plan", "aggregate", "worker"):
        assert keeper.admit(pod_of(fish, template, RESTRICTED_EXECUTOR), [])[1] is None
    limitrange = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "defaults", "namespace": "argo"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "1", "memory": "512Mi"},
                             "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}]},
    }  # fmt: skip
    admitted, refusal = gatekeepers(fish, LIMITS, limitrange).admit(plan, [])
    assert refusal is None
    assert admitted["spec"]["initContainers"][0]["resources"]["limits"]["cpu"] == "1"


def test_quota_exceeded_is_transient_and_counts_live_pods(fish: spec.BatchSpec) -> None:
    keeper = gatekeepers(fish, quota({"pods": "2"}))
    first, second, third = (pod_of(fish, "plan") for _ in range(3))
    assert keeper.admit(first, [])[1] is None
    assert keeper.admit(second, [first])[1] is None
    _, refusal = keeper.admit(third, [first, second])
    assert refusal is not None and refusal.transient  # Argo: isExceededQuotaErr, requeued
    assert "exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2" in (
        refusal.message
    )
    (status,) = keeper.quotas("argo", [first])
    assert status["status"]["used"]["pods"] == "1"


# --- 4. authorization (RBAC) -----------------------------------------------------------------


def test_rbac_allows_what_generate_rbac_grants_and_refuses_the_rest(fish: spec.BatchSpec) -> None:
    keeper = gatekeepers(fish)
    planner = authz.service_account("argo", rbac.plan_account(fish))
    worker = authz.service_account("argo", rbac.executor_account(fish))
    nodes = authz.Request("list", "", "nodes")
    quotas = authz.Request("list", "", "resourcequotas", "argo")
    assert keeper.authorize(planner, nodes) is None
    assert keeper.authorize(planner, quotas) is None
    assert keeper.authorize(worker, nodes) == (
        'nodes is forbidden: User "system:serviceaccount:argo:oscar-batch" cannot list'
        ' resource "nodes" in API group "" at the cluster scope'
    )
    assert keeper.authorize(authz.ANONYMOUS, quotas) == (
        'resourcequotas is forbidden: User "system:anonymous" cannot list resource'
        ' "resourcequotas" in API group "" in the namespace "argo"'
    )
    # the plan account's quota Role is namespaced: another namespace is refused
    other = authz.Request("list", "", "resourcequotas", "default")
    assert keeper.authorize(planner, other) is not None
    taskresults = authz.Request("create", "argoproj.io", "workflowtaskresults", "argo")
    assert keeper.authorize(worker, taskresults) is None


def test_request_attributes_from_paths() -> None:
    assert authz.request("GET", "/api/v1/nodes?limit=500") == authz.Request("list", "", "nodes")
    assert authz.request("GET", "/api/v1/namespaces/argo/resourcequotas") == authz.Request(
        "list", "", "resourcequotas", "argo"
    )
    assert authz.request(
        "GET", "/apis/kueue.x-k8s.io/v1beta1/namespaces/argo/localqueues/q"
    ) == authz.Request("get", "kueue.x-k8s.io", "localqueues", "argo", "q")
    assert authz.request("GET", "/api/v1/namespaces/argo") == authz.Request(
        "get", "", "namespaces", "", "argo"
    )
    assert authz.request("GET", "/version") is None


def test_applied_objects_replace_as_kubectl_apply(fish: spec.BatchSpec) -> None:
    objects = Objects()
    objects.apply_all(rbac.manifests(fish), "a", "argo")
    role = next(d for d in rbac.manifests(fish) if d["kind"] == "Role")
    narrowed = {**role, "rules": []}
    objects.apply(narrowed, "b", "argo")
    assert objects.get("Role", "argo", role["metadata"]["name"])["rules"] == []
    with pytest.raises(RunError, match="kind 'Deployment' is not held"):
        objects.apply({"kind": "Deployment", "metadata": {"name": "x"}}, "f.yaml", "argo")
    with pytest.raises(RunError, match="not a Pod Security level"):
        objects.apply(namespace("strict"), "f.yaml", "argo")
        objects.enforce_level("argo")


def test_the_plan_refuses_a_quota_argos_containers_cannot_satisfy(fish: spec.BatchSpec) -> None:
    from generator.clients.kube import ClusterState
    from generator.stages import quota as stage_quota

    nodes = ClusterState([], quotas=[LIMITS])
    why = str(stage_quota.unspecified(fish, nodes))
    assert why.startswith(
        "ResourceQuota argo/compute tracks requests.cpu, requests.memory, limits.cpu,"
        " limits.memory, which Argo's init container does not declare"
    )
    assert "executor.resources in the workflow-controller-configmap" in why and "LimitRange" in why
    planning = {
        **fish.planning.model_dump(),
        "executor_requests": {"cpu": "10m", "memory": "64Mi"},
        "executor_limits": {"cpu": "500m", "memory": "256Mi"},
    }
    declared = fish.model_copy(update={"planning": spec.Planning(**planning)})
    assert stage_quota.unspecified(declared, nodes) is None
    lr = {"spec": {"limits": [{"type": "Container", "default": {"cpu": "1", "memory": "1Gi"}}]}}
    assert (
        stage_quota.unspecified(fish, ClusterState([], quotas=[LIMITS], limitranges=[lr])) is None
    )


def test_two_specs_rbac_applied_together_keep_both_grants(fish: spec.BatchSpec) -> None:
    def variant(namespace: str, queue: str | None) -> spec.BatchSpec:
        argo = fish.argo.model_copy(update={"namespace": namespace})
        planning = fish.planning.model_copy(update={"kueue_queue": queue})
        return fish.model_copy(update={"argo": argo, "planning": planning})

    kueue, plain, other = variant("argo", "q"), variant("argo", None), variant("team-b", None)
    objects = Objects()
    for s in (kueue, plain, other):  # kubectl apply -f of each file, in this order
        objects.apply_all(rbac.manifests(s), s.name, s.argo.namespace)
    keeper = cluster.Cluster(objects)
    planner = authz.service_account("argo", rbac.plan_account(kueue))
    for req in (
        authz.Request("list", "", "nodes"),
        authz.Request("get", "kueue.x-k8s.io", "clusterqueues", "", "cq"),
        authz.Request("get", "kueue.x-k8s.io", "localqueues", "argo", "q"),
        authz.Request("list", "", "limitranges", "argo"),
    ):
        assert keeper.authorize(planner, req) is None, req
    other_planner = authz.service_account("team-b", rbac.plan_account(other))
    assert keeper.authorize(other_planner, authz.Request("list", "", "nodes")) is None
    # the plain spec's planner gets no Kueue rights from its own file
    alone = Objects()
    alone.apply_all(rbac.manifests(plain), "plain", "argo")
    kq = authz.Request("get", "kueue.x-k8s.io", "clusterqueues", "", "cq")
    assert cluster.Cluster(alone).authorize(planner, kq) is not None
