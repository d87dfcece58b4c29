"""The mount sidecar of the worker pod: rclone's flags, its command, and the remote's environment.

`mount_args` is the one definition of the mount flags: the workflow's sidecar and `run --local`'s
mounts use the same list, so what the tests prove about durability holds in the pods.
"""

from __future__ import annotations

REMOTE = "s3"


def mount_args(bucket: str, point: str, read_only: bool = False) -> list[str]:
    """`rclone mount` arguments with OSCAR's flags and no VFS write cache.

    `bucket` may name a folder of it (`bucket/prefix`): only that folder is mounted.
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


# The sidecar's entrypoint: rclone in the background and a lazy unmount on every way out.
# Argo's emissary runs the command in its own process group and delivers every signal to
# the whole group (workflow/executor/osspecific, Kill: syscall.Kill(-pgid, sig)), so rclone
# gets the SIGTERM itself: the shell must not forward it again. rclone stops watching signals
# after the first (lib/atexit Register: signal.Stop), so a second SIGTERM killed it in the
# middle of its unmount. The shell only traps the signals (so it outlives rclone; `wait`
# returns early on a trapped signal, hence the loop until rclone is really gone). The unmount
# below is for a SIGKILLed rclone (OOM, grace period over): a dead FUSE mount left in the
# emptyDir hangs the pod in Terminating. The rclone/rclone image is alpine with fuse3
# (rclone's Dockerfile), so fusermount3; busybox umount -l else.
SIDECAR_SCRIPT = """\
point=$1
shift
rclone "$@" &
child=$!
trap : TERM INT HUP
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


def proc_mounts_escape(path: str) -> str:
    """A mount point as /proc/mounts writes it: space, tab, newline and backslash in octal."""
    for ch in "\\ \t\n":
        path = path.replace(ch, f"\\{ord(ch):03o}")
    return path
