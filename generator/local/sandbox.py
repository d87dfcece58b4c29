"""What a container runtime does to isolate one container, for run --local's pods: mount(2),
pivot_root(2), namespaces and capabilities through libc (no `mount` process per mount).

Follows runc (opencontainers/runc libcontainer/rootfs_linux.go: pivotRoot, maskPaths,
readonlyPath; libcontainer/SPEC.md: the default /dev) and containerd's defaults (pkg/oci
spec.go: defaultUnixCaps; runc libcontainer/specconv/example.go: the masked and read-only
/proc paths).
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
]  # fmt: skip
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC = 0x20, 0x1000, 0x4000
MS_PRIVATE, MS_SLAVE, MS_SHARED = 1 << 18, 1 << 19, 1 << 20
MS_INERT = MS_NOSUID | MS_NODEV | MS_NOEXEC  # runc's options for proc, sysfs, shm
MNT_DETACH = 2
CLONE_NEWNS, CLONE_NEWPID = 0x20000, 0x20000000
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4

# linux/capability.h, in bit order
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)  # fmt: skip

# containerd pkg/oci/spec.go defaultUnixCaps, less MKNOD and NET_RAW: a runtime pairs them
# with a device cgroup and a network namespace, and pods here have neither (a device node made
# in a pod would reach this machine's disks; a raw socket would read its loopback traffic)
DEFAULT_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
    "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
)  # fmt: skip

# runc libcontainer/specconv/example.go Example(): Linux.MaskedPaths and ReadonlyPaths
MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
    "/sys/devices/virtual/tpm",
)  # fmt: skip
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# libcontainer/SPEC.md: the devices every container gets (mode 0666); fuse for privileged ones
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
           "urandom": (1, 9), "tty": (5, 0)}  # fmt: skip
FUSE_DEVICE = {"fuse": (10, 229)}


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str = "", flags: int = 0, data: str = "") -> None:
    rc = _libc.mount(
        source.encode(), target.encode(), fstype.encode() or None, flags, data.encode() or None
    )
    _check(rc, f"mount {target}")


def unmount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, kind: int) -> None:
    _check(_libc.setns(fd, kind), "setns")


def prctl(option: int, arg: int = 0, arg2: int = 0) -> None:
    rc = _libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(arg2), ctypes.c_ulong(0),
                     ctypes.c_ulong(0))  # fmt: skip
    _check(rc, f"prctl {option}")


def bind(source: str, target: str, read_only: bool = False) -> None:
    mount(source, target, "", MS_BIND | MS_REC)
    if read_only:
        mount("", target, "", MS_BIND | MS_REMOUNT | MS_RDONLY)


def layer(lower: str, target: str, scratch: str, hidden: Iterable[str] = ()) -> None:
    """`lower` at `target`, copy-on-write (writes land in `scratch`, a tmpfs): an image layer,
    without the `hidden` paths (relative to `lower`)."""
    upper, work = os.path.join(scratch, "up"), os.path.join(scratch, "wk")
    os.makedirs(upper)
    os.mkdir(work)
    # overlayfs shows the upper folder's owner and mode at `target`: the lower's, as an image has
    lowest = os.stat(lower)
    os.chown(upper, lowest.st_uid, lowest.st_gid)
    os.chmod(upper, stat.S_IMODE(lowest.st_mode))
    hidden = list(hidden)
    for rel in hidden:  # whiteouts: overlayfs shows these paths as absent
        path = os.path.join(upper, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
    try:
        mount("overlay", target, "overlay", 0, f"lowerdir={lower},upperdir={upper},workdir={work}")
    except OSError:  # a lower folder overlayfs refuses (nfs, FUSE): read-only, masked
        bind(lower, target, read_only=True)
        for rel in hidden:
            _mask(os.path.join(target, rel), "/dev/null")


def _mask(path: str, null: str) -> None:
    """runc rootfs_linux.go maskPaths: an empty read-only tmpfs over a folder, `null` (a
    /dev/null) over a file."""
    if os.path.isdir(path):
        mount("tmpfs", path, "tmpfs", MS_RDONLY, "nr_blocks=1,nr_inodes=2")
    elif os.path.lexists(path):
        mount(null, path, "", MS_BIND)


def make_dev(dev: str, privileged: bool) -> None:
    """A private /dev: runc's default devices (fuse too for a privileged container), pts, shm."""
    mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755,size=64k")
    for name, (major, minor) in {**DEVICES, **(FUSE_DEVICE if privileged else {})}.items():
        node = os.path.join(dev, name)
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(node, 0o666)
    for sub in ("pts", "shm"):
        os.mkdir(os.path.join(dev, sub))
    mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=620")  # fmt: skip
    mount("shm", f"{dev}/shm", "tmpfs", MS_INERT, "mode=1777,size=64m")
    links = {"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
             "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}  # fmt: skip
    for name, target in links.items():
        os.symlink(target, os.path.join(dev, name))


def mask(root: str) -> None:
    """runc's masked paths (rootfs_linux.go maskPaths: /dev/null over a file, an empty read-only
    tmpfs over a folder) and read-only paths (readonlyPath) under `root`'s /proc and /sys."""
    for path in MASKED_PATHS:
        _mask(root + path, f"{root}/dev/null")
    for path in READONLY_PATHS:
        target = root + path
        if os.path.exists(target):
            mount(target, target, "", MS_BIND | MS_REC)
            mount("", target, "", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_INERT)


def pivot_root(root: str) -> None:
    """runc rootfs_linux.go pivotRoot: pivot_root(".", ".") then detach the old root, so no
    path leads back to this machine's / (chroot leaves one: fchdir + `..`)."""
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY)
    new = os.open(root, os.O_DIRECTORY | os.O_RDONLY)
    try:
        os.fchdir(new)
        number = _SYS_PIVOT_ROOT[os.uname().machine]
        _check(_libc.syscall(number, b".", b"."), "pivot_root")
        os.fchdir(old)
        mount("", ".", "", MS_SLAVE | MS_REC)
        unmount(".", MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def effective_capabilities(names: Iterable[str]) -> int:
    """The bit mask of `names` this process holds (a machine may already lack some)."""
    with open("/proc/self/status", encoding="ascii") as status:
        have = int(next(line for line in status if line.startswith("CapPrm:")).split()[1], 16)
    return sum(1 << CAPABILITIES.index(n) for n in names if n in CAPABILITIES) & have


def bound_capabilities(keep: int) -> None:
    """Drop from the bounding set every capability not in `keep`: no exec can regain it."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text(encoding="ascii"))
    for cap in range(last + 1):
        if not keep >> cap & 1:
            prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def set_capabilities(keep: int) -> None:
    """This process's effective and permitted sets become `keep`, its inheritable set empty."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    for i in range(2):
        word = (keep >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = word
    _check(_libc.capset(ctypes.byref(header), data), "capset")
