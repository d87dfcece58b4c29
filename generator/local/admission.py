"""The apiserver's admission of a pod Argo creates, over the local cluster's objects (pure).

In the apiserver's order: LimitRanger fills missing requests/limits from the namespace's
LimitRanges (plugin/pkg/admission/limitranger, defaultContainerResourceRequirements), Pod
Security Admission checks the namespace's `enforce` level (kubernetes/pod-security-admission
policy/check_*.go, message as admission.go EvaluatePod), ResourceQuota admission refuses a
pod missing a request/limit a quota tracks (pkg/quota/v1/evaluator/core/pods.go,
podEvaluator.Constraints) or one that would pass `hard` (apiserver resourcequota controller,
checkRequest). Every container counts, Argo's `init` and `wait` included.

Argo retries a creation refused for "exceeded quota" (util/errors isExceededQuotaErr: the
node stays Pending); any other refusal fails the node with the API's message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from generator.spec import quantity

Pod = dict[str, Any]


@dataclass(frozen=True)
class Refusal:
    message: str  # the Forbidden Status message, as Argo shows it in the node
    transient: bool = False  # Argo retries the creation (exceeded quota)


def containers(pod: Pod) -> list[dict[str, Any]]:
    """Init containers, then containers (policy/visitor.go visitContainers)."""
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


# ---------------------------------------------------------------------------- Pod Security


def _sc(c: Mapping[str, Any]) -> dict[str, Any]:
    return dict(c.get("securityContext") or {})


def _quote(items: Iterable[str]) -> str:
    return ", ".join(f'"{i}"' for i in items)


def _who(names: list[str]) -> str:
    return f"{'container' if len(names) == 1 else 'containers'} {_quote(names)}"


Check = Callable[[Pod], str | None]  # "reason (detail)" when the pod fails the check


def _privileged(pod: Pod) -> str | None:
    bad = [c["name"] for c in containers(pod) if _sc(c).get("privileged")]
    return f"privileged ({_who(bad)} must not set securityContext.privileged=true)" if bad else None


BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip


def _capabilities_baseline(pod: Pod) -> str | None:
    bad, caps = [], set()
    for c in containers(pod):
        added = set((_sc(c).get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            bad.append(c["name"])
            caps |= added
    if not bad:
        return None
    return (
        f"non-default capabilities ({_who(bad)} must not include {_quote(sorted(caps))}"
        " in securityContext.capabilities.add)"
    )


def _host_namespaces(pod: Pod) -> str | None:
    spec = pod.get("spec") or {}
    used = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return f"host namespaces ({', '.join(used)})" if used else None


def _volumes(pod: Pod) -> list[dict[str, Any]]:
    return list((pod.get("spec") or {}).get("volumes") or [])


def _host_path(pod: Pod) -> str | None:
    bad = [v["name"] for v in _volumes(pod) if "hostPath" in v]
    word = "volume" if len(bad) == 1 else "volumes"
    return f"hostPath volumes ({word} {_quote(bad)})" if bad else None


def _host_ports(pod: Pod) -> str | None:
    bad, ports = [], set()
    for c in containers(pod):
        used = {str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")}
        if used:
            bad.append(c["name"])
            ports |= used
    if not bad:
        return None
    verb, noun = ("uses", "hostPort") if len(bad) == 1 else ("use", "hostPorts")
    noun = "hostPort" if len(ports) == 1 else "hostPorts"
    return f"hostPort ({_who(bad)} {verb} {noun} {', '.join(sorted(ports))})"


def _seccomp_type(sc: Mapping[str, Any]) -> str | None:
    profile = sc.get("seccompProfile")
    return str(profile.get("type")) if isinstance(profile, Mapping) else None


VALID_SECCOMP = ("RuntimeDefault", "Localhost")


def _seccomp(pod: Pod, restricted: bool) -> str | None:
    setters, values = [], set()
    pod_type = _seccomp_type((pod.get("spec") or {}).get("securityContext") or {})
    if pod_type is not None and pod_type not in VALID_SECCOMP:
        setters.append("pod")
        values.add(pod_type)
    explicit, implicit = [], []
    for c in containers(pod):
        own = _seccomp_type(_sc(c))
        if own is not None and own not in VALID_SECCOMP:
            explicit.append(c["name"])
            values.add(own)
        elif own is None and pod_type not in VALID_SECCOMP:
            implicit.append(c["name"])
    if explicit:
        setters.append(_who(explicit))
    if setters:
        return (
            f"seccompProfile ({' and '.join(setters)} must not set"
            f" securityContext.seccompProfile.type to {_quote(sorted(values))})"
        )
    if restricted and implicit:
        return (
            f"seccompProfile (pod or {_who(implicit)} must set securityContext.seccompProfile"
            '.type to "RuntimeDefault" or "Localhost")'
        )
    return None


def _allow_privilege_escalation(pod: Pod) -> str | None:
    bad = [
        c["name"] for c in containers(pod) if _sc(c).get("allowPrivilegeEscalation") is not False
    ]
    if not bad:
        return None
    return (
        f"allowPrivilegeEscalation != false ({_who(bad)} must set"
        " securityContext.allowPrivilegeEscalation=false)"
    )


def _capabilities_restricted(pod: Pod) -> str | None:
    no_drop, adding, caps = [], [], set()
    for c in containers(pod):
        capabilities = _sc(c).get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            no_drop.append(c["name"])
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            adding.append(c["name"])
            caps |= added
    details = []
    if no_drop:
        details.append(f'{_who(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(
            f"{_who(adding)} must not include {_quote(sorted(caps))} in"
            " securityContext.capabilities.add"
        )
    return f"unrestricted capabilities ({'; '.join(details)})" if details else None


ALLOWED_VOLUMES = (
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
    "persistentVolumeClaim", "projected", "secret",
)  # fmt: skip


def _restricted_volumes(pod: Pod) -> str | None:
    bad, kinds = [], set()
    for v in _volumes(pod):
        kind = next((k for k in v if k != "name"), "unknown")
        if kind not in ALLOWED_VOLUMES:
            bad.append(v["name"])
            kinds.add(kind)
    if not bad:
        return None
    many = len(bad) > 1
    return (
        f"restricted volume types ({'volumes' if many else 'volume'} {_quote(bad)}"
        f" {'use' if many else 'uses'} restricted volume"
        f" {'types' if len(kinds) > 1 else 'type'} {_quote(sorted(kinds))})"
    )


def _run_as_non_root(pod: Pod) -> str | None:
    setters = []
    pod_value = ((pod.get("spec") or {}).get("securityContext") or {}).get("runAsNonRoot")
    if pod_value is False:
        setters.append("pod")
    explicit = [c["name"] for c in containers(pod) if _sc(c).get("runAsNonRoot") is False]
    implicit = [
        c["name"]
        for c in containers(pod)
        if _sc(c).get("runAsNonRoot") is None and pod_value is not True
    ]
    if explicit:
        setters.append(_who(explicit))
    if setters:
        return (
            f"runAsNonRoot != true ({' and '.join(setters)} must not set"
            " securityContext.runAsNonRoot=false)"
        )
    if implicit:
        return (
            f"runAsNonRoot != true (pod or {_who(implicit)} must set"
            " securityContext.runAsNonRoot=true)"
        )
    return None


def _run_as_user(pod: Pod) -> str | None:
    setters = []
    if ((pod.get("spec") or {}).get("securityContext") or {}).get("runAsUser") == 0:
        setters.append("pod")
    bad = [c["name"] for c in containers(pod) if _sc(c).get("runAsUser") == 0]
    if bad:
        setters.append(_who(bad))
    return f"runAsUser=0 ({' and '.join(setters)} must not set runAsUser=0)" if setters else None


# In the registry's order: baseline IDs sorted, then restricted IDs sorted; a restricted check
# replaces the baseline one it overrides (policy/registry.go populate).
BASELINE: list[tuple[str, Check]] = [
    ("capabilities_baseline", _capabilities_baseline),
    ("hostNamespaces", _host_namespaces),
    ("hostPathVolumes", _host_path),
    ("hostPorts", _host_ports),
    ("privileged", _privileged),
    ("seccompProfile_baseline", lambda pod: _seccomp(pod, restricted=False)),
]
RESTRICTED: list[tuple[str, Check]] = [
    ("allowPrivilegeEscalation", _allow_privilege_escalation),
    ("capabilities_restricted", _capabilities_restricted),
    ("restrictedVolumes", _restricted_volumes),
    ("runAsNonRoot", _run_as_non_root),
    ("runAsUser", _run_as_user),
    ("seccompProfile_restricted", lambda pod: _seccomp(pod, restricted=True)),
]
OVERRIDDEN = {"capabilities_baseline", "hostPathVolumes", "seccompProfile_baseline"}


def pod_security(pod: Pod, level: str) -> str | None:
    """`violates PodSecurity "LEVEL:latest": ...` when the pod fails the level, else None."""
    if level == "privileged":
        return None
    checks = BASELINE
    if level == "restricted":
        checks = [c for c in BASELINE if c[0] not in OVERRIDDEN] + RESTRICTED
    failed = [why for _, check in checks if (why := check(pod))]
    return f'violates PodSecurity "{level}:latest": {", ".join(failed)}' if failed else None


# ---------------------------------------------------------------------------- ResourceQuota

# pods.go validationSet: a quota on these requires every container to declare them
VALIDATION_SET = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")


def _container_usage(c: Mapping[str, Any]) -> set[str]:
    """podComputeUsageHelper's resource names for one container."""
    resources = c.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    names = set()
    for r in ("cpu", "memory"):
        if r in requests:
            names |= {r, f"requests.{r}"}
        if r in limits:
            names.add(f"limits.{r}")
    return names


def _sum(values: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for v in values:
        for name, amount in v.items():
            total[name] = total.get(name, 0) + quantity.milli(amount)
    return total


def usage(pod: Pod) -> dict[str, int]:
    """What a pod counts against quotas, in milli-units (PodUsageFunc: requests and limits
    are the larger of the containers' sum and any one init container's)."""
    spec = pod.get("spec") or {}
    out = {"pods": 1000, "count/pods": 1000}
    for kind in ("requests", "limits"):
        main = _sum(
            (c.get("resources") or {}).get(kind) or {} for c in spec.get("containers") or []
        )
        for init in spec.get("initContainers") or []:
            for name, amount in ((init.get("resources") or {}).get(kind) or {}).items():
                main[name] = max(main.get(name, 0), quantity.milli(amount))
        for name, amount in main.items():
            out[f"{kind}.{name}"] = amount
            if kind == "requests" and name in ("cpu", "memory", "ephemeral-storage"):
                out[name] = amount
    return out


def _hard(q: Mapping[str, Any]) -> dict[str, Any]:
    return dict((q.get("status") or {}).get("hard") or (q.get("spec") or {}).get("hard") or {})


def _shown(values: Mapping[str, int]) -> str:
    return ",".join(
        f"{k}={quantity.format_milli(k.rpartition('.')[2].removeprefix('count/'), v)}"
        for k, v in sorted(values.items())
    )


def resource_quota(
    pod: Pod, quotas: Iterable[Mapping[str, Any]], used: Mapping[str, int]
) -> Refusal | None:
    """The quota admission's refusal, if any. `used`: what live pods already count."""
    name = (pod.get("metadata") or {}).get("name", "")
    tracked_all: list[tuple[str, dict[str, Any]]] = []
    for q in quotas:
        hard = _hard(q)
        required = [r for r in VALIDATION_SET if r in hard]
        missing: dict[str, list[str]] = {}
        for c in containers(pod):
            have = _container_usage(c)
            for r in required:
                if r not in have:
                    missing.setdefault(r, []).append(c["name"])
        qname = (q.get("metadata") or {}).get("name", "")
        if missing:
            what = "; ".join(f"{r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing))
            return Refusal(
                f'pods "{name}" is forbidden: failed quota: {qname}: must specify {what}'
            )
        tracked_all.append((qname, hard))
    need = usage(pod)
    for qname, hard in tracked_all:
        over = {
            r: quantity.milli(limit)
            for r, limit in hard.items()
            if r in need and used.get(r, 0) + need[r] > quantity.milli(limit)
        }
        if over:
            return Refusal(
                f'pods "{name}" is forbidden: exceeded quota: {qname},'
                f" requested: {_shown({r: need[r] for r in over})},"
                f" used: {_shown({r: used.get(r, 0) for r in over})},"
                f" limited: {_shown(over)}",
                transient=True,
            )
    return None
