"""The accounts and roles that `generate --rbac` writes beside a workflow, least privilege first.

Built with the official kubernetes client's models. Two ServiceAccounts:
- `<service_account>`: Argo's executor only (workflowtaskresults create/patch, the minimum of
  docs/workflow-rbac.md for v3.4+). The workers and the aggregate run as it; the worker pods
  do not even mount its token into the service or sidecar containers.
- `<service_account>-plan`: the executor rights plus `list` of nodes and pods cluster-wide
  and of the namespace's ResourceQuotas and LimitRanges (what `kube.from_api` calls), and
  `get` of the Kueue queue when `planning.kueue_queue` is set. No `get` where nothing calls it.
Credentials Secrets are never emitted: applying an empty Secret twice empties the real one.

Several specs' files are applied to one cluster (`kubectl apply` replaces an object of the
same kind, namespace and name): an object's name says everything its content depends on, so
applying one spec's file never takes away what another's granted.
"""

from __future__ import annotations

from typing import Any

import yaml

from generator.spec.model import BatchSpec

RBAC = "rbac.authorization.k8s.io"
KUEUE = "kueue.x-k8s.io"
NAME_PREFIX = "oscar-batch-"  # of the ClusterRoles every namespace and spec shares


def executor_account(spec: BatchSpec) -> str:
    """The account of the workers and the aggregate: Argo's executor rights only."""
    return spec.argo.service_account


def plan_account(spec: BatchSpec) -> str:
    """The account of the plan pod: it also reads cluster capacity and quotas."""
    return f"{spec.argo.service_account}-plan"


def token_secret(spec: BatchSpec) -> str:
    """Where Argo looks for the executor account's token (util/secrets, TokenName)."""
    return f"{executor_account(spec)}.service-account-token"


def manifests(spec: BatchSpec) -> list[dict[str, Any]]:
    """ServiceAccounts, roles and bindings, and the executor account's token Secret."""
    from kubernetes import client as k  # heavy import, only for --rbac

    ns = spec.argo.namespace
    executor, planner = executor_account(spec), plan_account(spec)
    # no spec label: every object is shared by the specs of one namespace and account
    labels = {"app.kubernetes.io/managed-by": "oscar-batch"}

    def meta(name: str, namespaced: bool = True, annotations: dict[str, str] | None = None) -> Any:
        return k.V1ObjectMeta(
            name=name, namespace=ns if namespaced else None, labels=labels, annotations=annotations
        )

    def subject(name: str) -> Any:
        return k.RbacV1Subject(kind="ServiceAccount", name=name, namespace=ns)

    def bind(kind: str, role: str, name: str, *accounts: str) -> Any:
        model = k.V1ClusterRoleBinding if kind == "ClusterRole" else k.V1RoleBinding
        return model(
            api_version=f"{RBAC}/v1",
            kind=f"{kind}Binding",
            metadata=meta(name, namespaced=kind == "Role"),
            role_ref=k.V1RoleRef(api_group=RBAC, kind=kind, name=role),
            subjects=[subject(a) for a in accounts],
        )

    def role(kind: str, name: str, *rules: Any) -> Any:
        model = k.V1ClusterRole if kind == "ClusterRole" else k.V1Role
        return model(
            api_version=f"{RBAC}/v1",
            kind=kind,
            metadata=meta(name, namespaced=kind == "Role"),
            rules=list(rules),
        )

    # `kubectl apply` of a second spec replaces an object of the same name: each object's
    # content is the same for every spec that names it. Cluster-scoped roles have fixed rules
    # and one name everywhere; cluster-scoped bindings carry the namespace in their name
    # (`:` cannot be in a namespace or account name); the Kueue queue's rule is its own Role.
    capacity = f"{NAME_PREFIX}read-capacity"
    objects: list[Any] = [
        k.V1ServiceAccount(api_version="v1", kind="ServiceAccount", metadata=meta(executor)),
        # Since Kubernetes 1.24 no token Secret is made for an account; Argo finds this one by
        # name (docs/service-account-secrets.md). Kubernetes fills its data: re-applying the
        # object, which has none, leaves the token alone.
        k.V1Secret(
            api_version="v1",
            kind="Secret",
            metadata=meta(
                token_secret(spec), annotations={"kubernetes.io/service-account.name": executor}
            ),
            type="kubernetes.io/service-account-token",
        ),
        k.V1ServiceAccount(api_version="v1", kind="ServiceAccount", metadata=meta(planner)),
        role(
            "Role",
            f"{executor}-executor",
            k.V1PolicyRule(
                api_groups=["argoproj.io"],
                resources=["workflowtaskresults"],
                verbs=["create", "patch"],
            ),
        ),
        bind("Role", f"{executor}-executor", f"{executor}-executor", executor, planner),
        role(
            "ClusterRole",
            capacity,
            k.V1PolicyRule(api_groups=[""], resources=["nodes", "pods"], verbs=["list"]),
        ),
        bind("ClusterRole", capacity, f"{ns}:{planner}-read-capacity", planner),
        role(
            "Role",
            f"{planner}-read-quota",
            k.V1PolicyRule(
                api_groups=[""], resources=["resourcequotas", "limitranges"], verbs=["list"]
            ),
        ),
        bind("Role", f"{planner}-read-quota", f"{planner}-read-quota", planner),
    ]
    queue = spec.planning.kueue_queue
    if queue:
        queues = f"{NAME_PREFIX}read-clusterqueues"
        objects += [
            role(
                "Role",
                f"{planner}-kueue-{queue}",
                k.V1PolicyRule(
                    api_groups=[KUEUE],
                    resources=["localqueues"],
                    resource_names=[queue],
                    verbs=["get"],
                ),
            ),
            bind("Role", f"{planner}-kueue-{queue}", f"{planner}-kueue-{queue}", planner),
            # the LocalQueue names its ClusterQueue only at run time: any ClusterQueue, get only
            role(
                "ClusterRole",
                queues,
                k.V1PolicyRule(api_groups=[KUEUE], resources=["clusterqueues"], verbs=["get"]),
            ),
            bind("ClusterRole", queues, f"{ns}:{planner}-read-clusterqueues", planner),
        ]
    api = k.ApiClient()
    return [api.sanitize_for_serialization(o) for o in objects]  # type: ignore[no-untyped-call]


POD_SECURITY = (
    "the worker pods' rclone sidecar is privileged (a FUSE mount): a namespace enforcing Pod"
    " Security 'baseline' or 'restricted' rejects them; label it"
    " pod-security.kubernetes.io/enforce=privileged"
)


def guidance(spec: BatchSpec) -> str:
    """Comment lines: how to create the Secrets (never emitted) and what the namespace needs."""
    ns = spec.argo.namespace
    lines = [
        f"Namespace {ns}: {POD_SECURITY}:",
        f"  kubectl label namespace {ns} pod-security.kubernetes.io/enforce=privileged",
        "Plan and aggregate pods pass 'baseline'; 'restricted' also needs Argo's own init and",
        "wait containers locked down, in workflow-controller-configmap (docs/argo.md):",
        "  executor: {securityContext: {runAsNonRoot: true, runAsUser: 8737,",
        "    allowPrivilegeEscalation: false, capabilities: {drop: [ALL]},",
        "    seccompProfile: {type: RuntimeDefault}}}",
        "",
        "Secrets are not in this file (re-applying an empty Secret would empty the real one).",
        "Create each once from a file kept out of git (values never on a command line):",
        f"  kubectl -n {ns} create secret generic {spec.input.credentials_secret}"
        " --from-env-file=minio.env",
        "  # minio.env: AWS_ACCESS_KEY_ID=... and AWS_SECRET_ACCESS_KEY=... lines",
    ]
    if spec.service.secret_env:
        lines += [
            f"  kubectl -n {ns} create secret generic {spec.service.secret_name}"
            " --from-env-file=service.env",
            f"  # service.env: {', '.join(f'{n}=...' for n in spec.service.secret_env)}",
        ]
    return "".join(f"# {line}\n".replace("# \n", "#\n") for line in lines)


def to_yaml(spec: BatchSpec) -> str:
    """All manifests as one multi-document YAML, headed by the Secret and namespace guidance."""
    return guidance(spec) + "---\n".join(
        yaml.safe_dump(d, sort_keys=False) for d in manifests(spec)
    )
