"""One pod, run as `unshare --mount --pid --fork --propagation private -- python -m
generator.local.kubelet POD.json` by the executor: the pod's own root, volumes and containers.

Inside its private mount and PID namespaces the shim builds the pod's root as an overlay
over this machine's `/` (writes land in a tmpfs, never on the host), mounts a fresh /proc
and the host's /sys and /dev, bind-mounts each emptyDir at the YAML's mount path, writes the
raw artifacts and /etc/hosts, then starts the containers chrooted into that root: main first,
then the sidecars (workflowpod.go lists main before the sidecars; kubelet starts them in
list order without waiting). When main exits, each sidecar's process group gets SIGTERM and,
after the grace period, SIGKILL (Argo's executor, workflow/executor/executor.go
KillSidecars). The output parameters are read from the pod's root. All containers of the pod
share this one root and namespace (a simplification: in a pod each container has its own
image root and only its own volumeMounts).

The shim is the namespace's PID 1: when it ends, the kernel kills every process left in the
pod and the mount namespace, with its FUSE mounts, goes away.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from generator.local.lifetime import die_with_parent

DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def inside(root: str, path: str) -> str:
    """`path` as a process chrooted into `root` resolves it (symlinks such as /var/run -> /run
    stay inside the root), as a host path."""
    todo = [p for p in path.split("/") if p]
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        if part == ".":
            continue
        here = os.path.join(root, *done, part)
        if os.path.islink(here):
            hops += 1
            if hops > 40:
                raise OSError(f"too many symbolic links in {path}")
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p] + todo
            continue
        done.append(part)
    return os.path.join(root, *done)


def build_root(pod: dict[str, Any]) -> str:
    """The pod's root filesystem under the scratch folder; returns its path."""
    scratch = pod["scratch"]
    _mount("-t", "tmpfs", "tmpfs", scratch)
    for sub in ("up", "wk", "root"):
        os.mkdir(os.path.join(scratch, sub))
    root = os.path.join(scratch, "root")
    _mount(
        "-t", "overlay", "overlay", "-o",
        f"lowerdir=/,upperdir={scratch}/up,workdir={scratch}/wk", root,
    )  # fmt: skip
    _mount("-t", "proc", "proc", os.path.join(root, "proc"))
    for fs in ("sys", "dev"):
        _mount("--rbind", f"/{fs}", os.path.join(root, fs))
    for volume in pod["mounts"]:
        target = inside(root, volume["path"])
        os.makedirs(target, exist_ok=True)
        _mount("--bind", volume["host"], target)
        if volume.get("readOnly"):
            _mount("-o", "remount,bind,ro", target)
    for item in pod["files"]:
        target = inside(root, item["path"])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Path(target).write_text(item["data"], encoding="utf-8")
        os.chmod(target, item.get("mode", 0o644))
    return root


def _start(container: dict[str, Any], root: str) -> subprocess.Popen[bytes]:
    def enter() -> None:
        die_with_parent()
        os.chroot(root)
        os.chdir(container["cwd"])

    log = open(container["log"], "ab")  # noqa: SIM115 (the child holds it; closed below)
    try:
        return subprocess.Popen(
            container["argv"],
            env=container["env"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=enter,
        )
    except OSError as exc:
        log.write(f"cannot start {container['argv'][0]}: {exc.strerror}\n".encode())
        raise
    finally:
        log.close()


def _stop(procs: list[subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM each process group, SIGKILL what is left after `grace` seconds."""
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while any(p.poll() is None for p in procs) and time.monotonic() < end:
        time.sleep(0.05)
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def _outputs(pod: dict[str, Any], root: str) -> tuple[dict[str, str], str]:
    values: dict[str, str] = {}
    for out in pod["outputs"]:
        try:
            values[out["name"]] = Path(inside(root, out["path"])).read_text(encoding="utf-8")
        except OSError as exc:
            if "default" not in out:
                # executor.go SaveParameters: os.ReadFile's error, the node errors
                return values, f"open {out['path']}: {(exc.strerror or str(exc)).lower()}"
            values[out["name"]] = out["default"]
    return values, ""


def run(pod: dict[str, Any]) -> dict[str, Any]:
    """Build the root, run the containers, collect the outputs: the node's phase and message."""
    root = build_root(pod)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for container in pod["containers"]:
            procs.append(_start(container, root))
    except OSError as exc:
        _stop(procs, 0)
        return {"phase": "Error", "message": f"cannot start container: {exc.strerror}"}
    main, sidecars = procs[0], procs[1:]
    deadline = time.monotonic() + pod["deadline"] if pod.get("deadline") else None
    while main.poll() is None:
        if STOPPING or os.path.exists(pod["stop"]):
            _stop(procs, pod["grace"])
            # Argo errors a node whose pod was deleted (operator.go podReconciliation)
            return {"phase": "Error", "message": "pod deleted"}
        if deadline is not None and time.monotonic() > deadline:
            _stop(procs, pod["grace"])
            return {"phase": "Failed", "message": DEADLINE_MESSAGE}
        time.sleep(0.05)
    _stop(sidecars, pod["grace"])
    values, error = _outputs(pod, root)
    if main.returncode != 0:
        code = main.returncode if main.returncode > 0 else 128 - main.returncode
        return {"phase": "Failed", "message": f"Error (exit code {code})", "outputs": values}
    if error:
        return {"phase": "Error", "message": error, "outputs": values}
    return {"phase": "Succeeded", "message": "", "outputs": values}


STOPPING: list[int] = []


def main(argv: list[str]) -> int:
    # the executor asks through the stop file; SIGTERM comes when unshare dies (its parent,
    # `run --local`, was killed): either way the containers get their grace period
    signal.signal(signal.SIGTERM, lambda signum, _frame: STOPPING.append(signum))
    die_with_parent(signal.SIGTERM)
    pod = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    try:
        socket.sethostname(pod["hostname"][:63])
        result = run(pod)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        why = detail.decode(errors="replace").strip() or str(exc)
        result = {"phase": "Error", "message": f"pod setup failed: {why}"}
    Path(pod["result"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
