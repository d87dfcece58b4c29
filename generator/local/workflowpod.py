"""A pod as Kubernetes and Argo would make it from one (substituted) template: each
container's environment, command and args, its volumeMounts, files and securityContext, the
pod's volumes, ready for generator/local/kubelet.py.

Container images cannot run here: each container runs a host command, in a root made of this
machine's system folders, this Python and the package (`image_folders`), nothing else of it.
Its environment is only what the YAML, Kubernetes and Argo give it, plus PATH, HOME and the
locale from this machine as an image would set them; the runtime image's PATH starts with
this Python's bin folder (`oscar-batch`), the rclone image's with rclone's folder.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.errors import RunError
from generator.local import kubeexpand, rclone, sandbox

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
    image_path: Callable[[str], list[str]]
    image_env: Callable[[str], dict[str, str]]
    trust: str = ""  # a CA certificate (PEM) the pods trust, added to the system bundles
    image: tuple[str, ...] = ()  # the host folders every container's root is made of
    image_dirs: Callable[[str], list[str]] = lambda _image: []  # and one image's own (--image-dir)
    hidden: Mapping[str, list[str]] = field(default_factory=dict)  # and what they leave out


SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


def image_folders() -> tuple[str, ...]:
    """The host folders an image stand-in is made of: the system folders, this Python (its
    prefix and its base installation), the package's folder, rclone's folder."""
    import generator

    wanted = [
        *SYSTEM_FOLDERS,
        sys.prefix,
        sys.base_prefix,
        str(Path(generator.__file__).parent),
        str(Path(rclone.binary()).parent),
    ]
    out: list[str] = []
    for folder in sorted({os.path.normpath(f) for f in wanted if os.path.lexists(f)}, key=len):
        if not any(folder.startswith(f.rstrip("/") + "/") for f in out):
            out.append(folder)
    return tuple(out)


def unreadable(folder: str) -> list[str]:
    """What of `folder` another user of this machine may not read (/etc/shadow, private keys):
    left out of the image, so a container's root cannot read it either. Paths relative."""
    out: list[str] = []
    for top, dirs, names in os.walk(folder):
        for name in [*dirs, *names]:
            path = os.path.join(top, name)
            with contextlib.suppress(OSError):
                mode = os.lstat(path).st_mode
                if not stat.S_ISLNK(mode) and not mode & stat.S_IROTH:
                    out.append(os.path.relpath(path, folder))
                    if name in dirs:
                        dirs.remove(name)
    return out


def _repo(image: str) -> str:
    return image.rsplit("@", 1)[0].rsplit(":", 1)[0] if "/" in image else image.split(":")[0]


def image_dirs(given: Mapping[str, Path]) -> Callable[[str], list[str]]:
    """The `--image-dir IMAGE=DIR` folders of an image: IMAGE as the YAML writes it, or its
    name without tag or digest."""

    def folders(image: str) -> list[str]:
        found = given.get(image) or given.get(_repo(image))
        return [str(found)] if found else []

    return folders


def is_runtime(image: str, runtime_image: str) -> bool:
    """Whether `image` is the oscar-batch runtime image (the plan and aggregate steps')."""
    return image == runtime_image or _repo(image).endswith("/oscar-batch")


def image_path(runtime_image: str, given: Mapping[str, Path]) -> Callable[[str], list[str]]:
    """The folders an image stand-in puts first on PATH: its --image-dir, this Python's bin
    for the runtime image, rclone's folder for rclone's."""
    own = image_dirs(given)

    def folders(image: str) -> list[str]:
        repo = _repo(image)
        if is_runtime(image, runtime_image):
            return [*own(image), str(Path(sys.executable).parent)]
        if repo.rsplit("/", 1)[-1] == "rclone":
            return [*own(image), str(Path(rclone.binary()).parent)]
        return own(image)

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


def capabilities(context: dict[str, Any]) -> list[str]:
    """The capabilities of a container's securityContext: every one when privileged, else the
    runtime's default set with `add` and `drop` (containerd pkg/cri/opts spec_linux.go
    WithCapabilities: ALL first, then the named ones, added before dropped)."""
    if context.get("privileged"):
        return list(sandbox.CAPABILITIES)
    asked = context.get("capabilities") or {}
    add = [str(c).upper().removeprefix("CAP_") for c in asked.get("add") or []]
    drop = [str(c).upper().removeprefix("CAP_") for c in asked.get("drop") or []]
    caps = set(sandbox.DEFAULT_CAPABILITIES)
    if "ALL" in add:
        caps = set(sandbox.CAPABILITIES)
    if "ALL" in drop:
        caps = set()
    caps = (caps | {c for c in add if c != "ALL"}) - set(drop)
    return [c for c in sandbox.CAPABILITIES if c in caps]


def security(c: dict[str, Any], pod_context: dict[str, Any]) -> dict[str, Any]:
    """What the runtime applies of a container's securityContext over the pod's (kubelet
    DetermineEffectiveSecurityContext): privilege, capabilities, no_new_privs, user and group."""
    own = c.get("securityContext") or {}
    merged = {**{k: v for k, v in pod_context.items() if k in ("runAsUser", "runAsGroup")}, **own}
    uid = merged.get("runAsUser")
    return {
        "privileged": bool(own.get("privileged")),
        "capabilities": capabilities(own),
        "noNewPrivileges": own.get("allowPrivilegeEscalation") is False,
        "user": [int(uid), int(merged.get("runAsGroup", 0))] if uid is not None else None,
    }


def container(
    c: dict[str, Any],
    *,
    pod_name: str,
    argo_env: dict[str, str],
    host: Host,
    namespace: str,
    log: Path,
) -> dict[str, Any]:
    """One container as the shim starts it (raises SecretMissing); its mounts, files and
    securityContext are added by the caller."""
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
    return {
        "argv": argv,
        "env": env,
        "cwd": str(c.get("workingDir") or "/"),  # an image's WORKDIR is / unless it says otherwise
        "log": str(log),
        "image": [*host.image, *host.image_dirs(image)],
    }


def volumes(
    tpl: dict[str, Any], spec_volumes: list[dict[str, Any]], folder: Path
) -> dict[str, str]:
    """Each volume some container mounts, backed by an emptyDir folder under `folder`."""
    known = {v["name"]: v for v in [*spec_volumes, *(tpl.get("volumes") or [])]}
    out: dict[str, str] = {}
    for c in [tpl.get("container") or {}, *(tpl.get("sidecars") or [])]:
        for vm in c.get("volumeMounts") or []:
            if vm["name"] not in known:
                raise RunError(f"volumeMount {vm['name']!r} names no volume")
            host_dir = folder / f"vol-{vm['name']}"
            host_dir.mkdir(parents=True, exist_ok=True)
            out[vm["name"]] = str(host_dir)
    return out


def mounts(c: dict[str, Any]) -> list[dict[str, Any]]:
    """A container's own volumeMounts: only these volumes are in its root."""
    return [
        {
            "volume": vm["name"],
            "path": vm["mountPath"],
            "readOnly": bool(vm.get("readOnly")),
            "propagation": vm.get("mountPropagation"),
        }
        for vm in c.get("volumeMounts") or []
    ]


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


def artifacts(tpl: dict[str, Any]) -> list[dict[str, Any]]:
    """Raw input artifacts at their path and mode (main's only: Argo's init container puts
    them in volumes only main mounts)."""
    return [
        {"path": a["path"], "data": a["raw"]["data"], "mode": int(a.get("mode", 0o644))}
        for a in (tpl.get("inputs") or {}).get("artifacts") or []
    ]


def files(host: Host, pod_name: str) -> list[dict[str, Any]]:
    """What kubelet writes in every container (/etc/hosts with the cluster's names,
    /etc/resolv.conf, /etc/hostname), and the CA bundles with the local servers' certificate
    (in the container's root only)."""
    hosts = host.hosts
    out = []
    with contextlib.suppress(OSError):
        resolv = Path("/etc/resolv.conf").read_text(encoding="utf-8")
        out.append({"path": "/etc/resolv.conf", "data": resolv, "mode": 0o644})
    out.append({"path": "/etc/hostname", "data": pod_name[:63] + "\n", "mode": 0o644})
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
