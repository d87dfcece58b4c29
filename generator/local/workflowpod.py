"""A pod as Kubernetes and Argo would make it from one (substituted) template: each
container's environment, command and args, the volumes, the raw artifacts and the
service-account files, ready for generator/podshim.py.

Container images cannot run here: each container runs a host command. Its environment is
only what the YAML, Kubernetes and Argo give it, plus PATH, HOME and the locale from this
machine as an image would set them; the runtime image's PATH starts with this Python's bin
folder (`oscar-batch`), the rclone image's with rclone's folder.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.errors import RunError
from generator.local import kubeexpand, rclone

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
PROGRESS_DIR = "/var/run/argo"
PROGRESS_FILE = PROGRESS_DIR + "/progress"  # common.ArgoProgressPath


class SecretMissing(RunError):
    """A secretKeyRef no local secret answers (kubelet: CreateContainerConfigError)."""


@dataclass(frozen=True)
class Host:
    """What this machine offers every pod: the API stand-in, names, secrets, images."""

    api_host: str
    api_port: int
    account_dir: Callable[[str, str], Path]  # (namespace, ServiceAccount) -> its token files
    hosts: Mapping[str, str]
    secret: Callable[[str, str], str | None] = field(repr=False)
    cwd: str
    image_path: Callable[[str], list[str]]
    image_env: Callable[[str], dict[str, str]]
    trust: str = ""  # a CA certificate (PEM) the pods trust, added to the system bundles


def image_path(runtime_image: str) -> Callable[[str], list[str]]:
    """The folders an image stand-in puts first on PATH."""

    def folders(image: str) -> list[str]:
        repo = image.rsplit("@", 1)[0].rsplit(":", 1)[0] if "/" in image else image.split(":")[0]
        if image == runtime_image or repo.endswith("/oscar-batch"):
            return [str(Path(sys.executable).parent)]
        if repo.rsplit("/", 1)[-1] == "rclone":
            return [str(Path(rclone.binary()).parent)]
        return []

    return folders


def host_env() -> dict[str, str]:
    """PATH, HOME and the locale from this machine: all an image's ENV would give."""
    return {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "HOME", "LANG", "LANGUAGE") or k.startswith("LC_")
    }


def _secret_env(
    entries: list[dict[str, Any]], secret: Callable[[str, str], str | None], namespace: str
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for e in entries:
        if "valueFrom" in e:
            ref = e["valueFrom"]["secretKeyRef"]
            value = secret(ref["name"], ref["key"])
            if value is None:
                if ref.get("optional"):
                    continue
                raise SecretMissing(
                    f"CreateContainerConfigError: couldn't find key {ref['key']} in Secret"
                    f" {namespace}/{ref['name']} (set {ref['key']} in the environment)"
                )
            out.append((e["name"], value))
        else:
            out.append((e["name"], str(e.get("value", ""))))
    return out


def container(
    c: dict[str, Any],
    *,
    pod_name: str,
    argo_env: dict[str, str],
    host: Host,
    namespace: str,
    log: Path,
) -> dict[str, Any]:
    """One container as the shim starts it (raises SecretMissing)."""
    image = str(c.get("image", ""))
    base = {**host_env(), **host.image_env(image)}
    first = host.image_path(image)
    if first:
        base["PATH"] = ":".join([*first, base.get("PATH", "/usr/bin:/bin")])
    kube = {
        "KUBERNETES_SERVICE_HOST": host.api_host,
        "KUBERNETES_SERVICE_PORT": str(host.api_port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(host.api_port),
        "KUBERNETES_PORT": f"tcp://{host.api_host}:{host.api_port}",
        "HOSTNAME": pod_name,
    }
    entries = _secret_env(list(c.get("env") or []), host.secret, namespace)
    entries += [("ARGO_CONTAINER_NAME", str(c.get("name", "main"))), *argo_env.items()]
    # kubelet: service variables are the base of the expansion; image ENV is not in it
    env = {**base, **kubeexpand.environment(entries, kube)}
    argv = [
        kubeexpand.expand(str(a), env) for a in [*(c.get("command") or []), *(c.get("args") or [])]
    ]
    if not argv:
        raise RunError(
            f"container {c.get('name', 'main')}: no command (an image ENTRYPOINT cannot run here)"
        )
    return {"argv": argv, "env": env, "cwd": str(c.get("workingDir") or host.cwd), "log": str(log)}


def volumes(
    tpl: dict[str, Any], spec_volumes: list[dict[str, Any]], folder: Path
) -> list[dict[str, Any]]:
    """Each volumeMount of every container, backed by an emptyDir folder under `folder`."""
    known = {v["name"]: v for v in [*spec_volumes, *(tpl.get("volumes") or [])]}
    mounts: dict[str, dict[str, Any]] = {}
    for c in [tpl.get("container") or {}, *(tpl.get("sidecars") or [])]:
        for vm in c.get("volumeMounts") or []:
            if vm["name"] not in known:
                raise RunError(f"volumeMount {vm['name']!r} names no volume")
            host_dir = folder / f"vol-{vm['name']}"
            host_dir.mkdir(parents=True, exist_ok=True)
            mounts.setdefault(
                vm["mountPath"],
                {
                    "host": str(host_dir),
                    "path": vm["mountPath"],
                    "readOnly": bool(vm.get("readOnly")),
                },
            )
    return list(mounts.values())


def automount(tpl: dict[str, Any], spec: dict[str, Any]) -> bool:
    """automountServiceAccountToken: the template's value, else the workflow's, else true."""
    for source in (tpl, spec):
        if source.get("automountServiceAccountToken") is not None:
            return bool(source["automountServiceAccountToken"])
    return True


def _bundles() -> list[str]:
    import certifi

    # Go (rclone) reads the system bundle, Python clients certifi's
    return ["/etc/ssl/certs/ca-certificates.crt", certifi.where()]


def files(tpl: dict[str, Any], host: Host) -> list[dict[str, Any]]:
    """Raw input artifacts at their path and mode, /etc/hosts with the cluster's names, and
    the CA bundles with the local servers' certificate (in the pod's root only)."""
    hosts = host.hosts
    out = [
        {"path": a["path"], "data": a["raw"]["data"], "mode": int(a.get("mode", 0o644))}
        for a in (tpl.get("inputs") or {}).get("artifacts") or []
    ]
    try:
        etc_hosts = Path("/etc/hosts").read_text(encoding="utf-8")
    except OSError:
        etc_hosts = "127.0.0.1 localhost\n"
    lines = "".join(f"{ip}\t{name}\n" for name, ip in sorted(hosts.items()))
    out.append({"path": "/etc/hosts", "data": etc_hosts.rstrip("\n") + "\n" + lines, "mode": 0o644})
    for bundle in _bundles() if host.trust else []:
        with contextlib.suppress(OSError):
            text = Path(bundle).read_text(encoding="utf-8")
            out.append(
                {"path": bundle, "data": text.rstrip("\n") + "\n" + host.trust, "mode": 0o644}
            )
    return out
