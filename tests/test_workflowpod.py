"""What the local runtime applies of a container's securityContext (pure)."""

from __future__ import annotations

from generator.local import sandbox, workflowpod


def test_capabilities_as_containerd_applies_add_and_drop() -> None:
    default = workflowpod.capabilities({})
    assert default == [c for c in sandbox.CAPABILITIES if c in sandbox.DEFAULT_CAPABILITIES]
    assert "SYS_ADMIN" not in default and "MKNOD" not in default and "NET_RAW" not in default
    assert workflowpod.capabilities({"capabilities": {"drop": ["ALL"]}}) == []
    assert workflowpod.capabilities(
        {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "cap_kill"]}}
    ) == ["KILL", "NET_BIND_SERVICE"]
    everything_but_chown = workflowpod.capabilities(
        {"capabilities": {"add": ["ALL"], "drop": ["CHOWN"]}}
    )
    assert "CHOWN" not in everything_but_chown and "SYS_ADMIN" in everything_but_chown
    assert workflowpod.capabilities({"privileged": True}) == list(sandbox.CAPABILITIES)


def test_security_context_container_over_pod() -> None:
    pod = {"runAsUser": 1000, "runAsGroup": 100, "runAsNonRoot": True}
    mine = {"runAsUser": 10001, "allowPrivilegeEscalation": False}
    got = workflowpod.security({"securityContext": mine}, pod)
    assert got["user"] == [10001, 100] and got["noNewPrivileges"] and not got["privileged"]
    assert workflowpod.security({}, {})["user"] is None
    sidecar = workflowpod.security({"securityContext": {"privileged": True}}, pod)
    assert sidecar["privileged"] and sidecar["user"] == [1000, 100]
