"""One pod, run as `unshare --mount --pid --uts --ipc --fork --propagation private -- python -m
generator.local.kubelet POD.json` by the controller: the pod's volumes, then each container
isolated as a container runtime does (generator/local/sandbox.py).

The shim is the pod namespace's PID 1 (the pause container): when it ends, the kernel kills
every process left in the pod and the mount namespace, with its FUSE mounts, goes away.
In the pod's mount namespace it mounts a tmpfs (the pod's scratch), binds each volume once
as a *shared* mount, and builds each container's root there:
- the image: the host folders of the container's `image` (system folders, this Python, the
  package, rclone, its --image-dir), each a copy-on-write layer; nothing else of this machine
  (no /tmp, no home, no data folder, no other pod, no pod description, no token but the
  YAML's);
- that container's own volumeMounts (`mountPropagation` None/HostToContainer/Bidirectional
  as private/slave/shared, kubelet's meaning), its files (raw artifacts in main only,
  /etc/hosts, /etc/resolv.conf, /etc/hostname, the CA bundles);
- a private /dev and a read-only sysfs.
Each container then gets its own PID namespace (unless shareProcessNamespace) and mount
namespace, a fresh /proc with runc's masked and read-only paths, pivot_root into its root,
and the capabilities of its securityContext. Its PID 1 is a small init that forwards signals
to the command's process group and reaps, as Argo's emissary does (cmd/argoexec/commands/
emissary.go; osspecific Kill signals the group, Wait gives 128+signal).

Main starts first, then the sidecars (workflowpod.go lists main before the sidecars; kubelet
starts them in list order without waiting). When main exits, each sidecar gets SIGTERM and,
after the grace period, SIGKILL (Argo's executor, workflow/executor/executor.go
KillSidecars). The output parameters are read from main's root.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from generator.local import sandbox
from generator.local.lifetime import die_with_parent

DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
# kubelet: mountPropagation -> the propagation of the container's bind of the volume
PROPAGATION = {
    None: sandbox.MS_PRIVATE,
    "None": sandbox.MS_PRIVATE,
    "HostToContainer": sandbox.MS_SLAVE,
    "Bidirectional": sandbox.MS_SHARED,
}
FORWARDED = {
    signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
    signal.SIGTERM, signal.SIGALRM, signal.SIGCONT, signal.SIGWINCH,
}  # fmt: skip


def inside(root: str, path: str) -> str:
    """`path` as a process rooted at `root` resolves it (symlinks such as /var/run -> /run stay
    inside the root), as a path of this namespace."""
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


def volumes(pod: dict[str, Any]) -> dict[str, str]:
    """Each volume's host folder bound once under the scratch, as a shared mount: a container's
    bind of it joins its peer group, so a Bidirectional mount reaches the others."""
    out = {}
    for i, (name, host) in enumerate(sorted(pod["volumes"].items())):
        point = os.path.join(pod["scratch"], "vol", str(i))
        os.makedirs(point)
        sandbox.mount(host, point, "", sandbox.MS_BIND)
        sandbox.mount("", point, "", sandbox.MS_SHARED)
        out[name] = point
    return out


def build_root(pod: dict[str, Any], index: int, shared: dict[str, str]) -> str:
    """Container `index`'s root under the scratch folder; returns its path."""
    c = pod["containers"][index]
    base = os.path.join(pod["scratch"], f"c{index}")
    root = os.path.join(base, "root")
    os.makedirs(root, 0o755)
    sandbox.mount(root, root, "", sandbox.MS_BIND)  # pivot_root wants a mount point
    # an image's own folders first, with their modes: an image folder below one (this Python
    # under /root, a checkout under /tmp) must not leave it as makedirs would (0755 /tmp: a
    # container running as another user could not create its files there)
    for sub, mode in (("proc", 0o555), ("sys", 0o555), ("dev", 0o755), ("tmp", 0o1777),
                      ("root", 0o700), ("run", 0o755), ("var/tmp", 0o1777)):  # fmt: skip
        leads = any(folder.startswith(f"/{sub}/") for folder in c["image"])
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        os.chmod(os.path.join(root, sub), mode | 0o755 if leads else mode)
    for i, folder in enumerate(c["image"]):
        if os.path.islink(folder):
            os.makedirs(os.path.dirname(root + folder), exist_ok=True)
            os.symlink(os.readlink(folder), root + folder)
            continue
        os.makedirs(root + folder, exist_ok=True)
        scratch = os.path.join(base, f"layer{i}")
        os.makedirs(scratch)
        sandbox.layer(folder, root + folder, scratch, pod["hidden"].get(folder, []))
    if not os.path.lexists(f"{root}/var/run"):
        os.symlink("/run", f"{root}/var/run")
    sandbox.make_dev(f"{root}/dev", c["privileged"])
    sandbox.mount("sysfs", f"{root}/sys", "sysfs", sandbox.MS_RDONLY | sandbox.MS_INERT)
    for m in c["mounts"]:
        target = inside(root, m["path"])
        os.makedirs(target, exist_ok=True)
        sandbox.bind(shared[m["volume"]], target, bool(m.get("readOnly")))
    for item in c["files"]:
        target = inside(root, item["path"])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)  # a fresh file: never write through a symlink of the image
        Path(target).write_text(item["data"], encoding="utf-8")
        os.chmod(target, item.get("mode", 0o644))
    return root


def _init(child: int) -> None:
    """PID 1 of the container: forward signals to the command's process group, reap, and end
    with the command's status (128+signal when a signal ended it)."""
    # a fork of the shim, which holds every container's environment: not dumpable (no
    # /proc/1/mem or /proc/1/environ for the container) and without capabilities
    sandbox.prctl(sandbox.PR_SET_DUMPABLE, 0)
    sandbox.set_capabilities(0)
    os.closerange(3, 1 << 16)
    watched = FORWARDED | {signal.SIGCHLD}
    while True:
        sig = signal.sigwait(watched)
        if sig != signal.SIGCHLD:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child, sig)
            continue
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(255)
            if pid == 0:
                break
            if pid == child:
                code = os.waitstatus_to_exitcode(status)
                os._exit(code if code >= 0 else 128 - code)


def _enter(c: dict[str, Any], root: str) -> None:
    """In the container's first process (preexec): its namespace, root, capabilities, init."""
    die_with_parent()
    sandbox.unshare(sandbox.CLONE_NEWNS)
    for m in c["mounts"]:
        propagation = PROPAGATION[m.get("propagation")]
        sandbox.mount("", inside(root, m["path"]), "", propagation)
    sandbox.mount("proc", f"{root}/proc", "proc", sandbox.MS_INERT)
    if not c["privileged"]:
        sandbox.mask(root)
    sandbox.pivot_root(root)
    os.makedirs(c["cwd"], exist_ok=True)  # runc creates a missing cwd
    os.chdir(c["cwd"])
    os.umask(0o022)
    keep = sandbox.effective_capabilities(c["capabilities"])
    sandbox.bound_capabilities(keep)
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED | {signal.SIGCHLD})
    child = os.fork()
    if child:
        _init(child)
    os.setpgid(0, 0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED | {signal.SIGCHLD})
    uid, gid = c.get("user") or (0, 0)
    if (uid, gid) != (0, 0):
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    if c["noNewPrivileges"]:
        sandbox.prctl(sandbox.PR_SET_NO_NEW_PRIVS, 1)


def _start(c: dict[str, Any], root: str, own_pid_ns: bool) -> subprocess.Popen[bytes]:
    log = os.open(c["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY) if own_pid_ns else -1
    try:
        if own_pid_ns:  # the next child is PID 1 of a new namespace; this shim stays where it is
            sandbox.unshare(sandbox.CLONE_NEWPID)
        return subprocess.Popen(
            c["argv"],
            env=c["env"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=lambda: _enter(c, root),
        )
    except OSError as exc:
        os.write(log, f"cannot start {c['argv'][0]}: {exc.strerror}\n".encode())
        raise
    finally:
        if own_pid_ns:
            sandbox.setns(pid_ns, sandbox.CLONE_NEWPID)
            os.close(pid_ns)
        os.close(log)


def _wait(procs: list[subprocess.Popen[bytes]], seconds: float) -> None:
    """Until one of `procs` (not reaped yet) ends or `seconds` pass: a pidfd wakes this the
    moment a container ends, where a poll interval added its half on average to every pod."""
    fds = []
    try:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                fds.append(os.pidfd_open(p.pid))
        select.select(fds, [], [], seconds)
    finally:
        for fd in fds:
            os.close(fd)


def _stop(procs: list[subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM each container (its init forwards it), SIGKILL what is left after `grace`
    seconds (the init's death ends its PID namespace)."""
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while (left := [p for p in procs if p.poll() is None]) and time.monotonic() < end:
        _wait(left, max(end - time.monotonic(), 0.0))
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
    """Build the roots, run the containers, collect the outputs: the node's phase and message."""
    os.umask(0o022)  # the roots' folders as an image has them (run --local's umask is 077)
    sandbox.mount("tmpfs", pod["scratch"], "tmpfs", sandbox.MS_NOSUID, "mode=700")
    shared = volumes(pod)
    roots = [build_root(pod, i, shared) for i in range(len(pod["containers"]))]
    own_pid_ns = not pod.get("shareProcessNamespace")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for c, root in zip(pod["containers"], roots, strict=True):
            procs.append(_start(c, root, own_pid_ns))
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
        _wait([main], 0.05)  # the stop file and the deadline are looked at this often
    _stop(sidecars, pod["grace"])
    values, error = _outputs(pod, roots[0])
    if main.returncode != 0:
        code = main.returncode if main.returncode > 0 else 128 - main.returncode
        return {"phase": "Failed", "message": f"Error (exit code {code})", "outputs": values}
    if error:
        return {"phase": "Error", "message": error, "outputs": values}
    return {"phase": "Succeeded", "message": "", "outputs": values}


STOPPING: list[int] = []


def main(argv: list[str]) -> int:
    # the controller asks through the stop file; SIGTERM comes when unshare dies (its parent,
    # `run --local`, was killed): either way the containers get their grace period
    signal.signal(signal.SIGTERM, lambda signum, _frame: STOPPING.append(signum))
    die_with_parent(signal.SIGTERM)
    # the shim holds every container's environment: no container may read its memory
    sandbox.prctl(sandbox.PR_SET_DUMPABLE, 0)
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
