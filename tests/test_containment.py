"""A hostile script run by `run --local` stays in its container (issue 20 items 1-3, 6): every
escape attempt fails inside the pod, and this machine is left untouched."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from generator.cli import app
from tests.conftest import requires_fuse


def _namespaces_missing() -> str | None:
    """Why run --local cannot make a pod here, or None."""
    if os.geteuid() != 0:
        return "run --local needs root"
    for tool in ("unshare", "openssl"):
        if shutil.which(tool) is None:
            return f"{tool} missing"
    probe = ["unshare", "--mount", "--pid", "--uts", "--ipc", "--fork", "true"]
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        return "this machine refuses mount/PID/UTS/IPC namespaces"
    return None


requires_namespaces = pytest.mark.skipif(
    _namespaces_missing() is not None, reason=str(_namespaces_missing())
)
pytestmark = [requires_fuse, requires_namespaces]

# Each attempt prints "<name>: blocked <why>" or "<name>: ESCAPED <what>".
HOSTILE = r"""
import ctypes, glob, os, stat, sys

def attempt(name, fn):
    try:
        what = fn()
    except OSError as exc:
        print(f"{name}: blocked {exc.strerror}", flush=True)
        return
    print(f"{name}: {'ESCAPED ' + what if what else 'blocked'}", flush=True)

def chroot_escape():
    os.makedirs("/tmp/jail", exist_ok=True)
    fd = os.open("/", os.O_RDONLY)
    os.chroot("/tmp/jail")
    os.fchdir(fd)
    for _ in range(64):
        os.chdir("..")
    os.chroot(".")
    with open(os.environ["HOST_FILE"], "w") as f:
        f.write("written from a pod")
    return "wrote " + os.environ["HOST_FILE"]

def host_processes():
    found = []
    for env in glob.glob("/proc/[0-9]*/environ"):
        if env == f"/proc/{os.getpid()}/environ":  # this script was given the tokens to look for
            continue
        try:
            data = open(env, "rb").read()
        except OSError:
            continue
        for token in (os.environ["HOST_TOKEN"], os.environ["SIDECAR_TOKEN"]):
            if token.encode() in data:
                found.append(env)
    return ", ".join(found)

def core_pattern():
    os.close(os.open("/proc/sys/kernel/core_pattern", os.O_WRONLY))
    return "opened /proc/sys/kernel/core_pattern for writing"

def dev_shm():
    with open("/dev/shm/" + os.environ["SHM_NAME"], "w") as f:
        f.write("x")
    return ""  # the test looks on the host

def sys_writable():
    return "" if os.statvfs("/sys").f_flag & os.ST_RDONLY else "/sys is read-write"

def masked_proc():
    leaked = [p for p in ("/proc/timer_list", "/proc/keys", "/proc/kcore")
              if os.path.exists(p) and open(p, "rb").read(64)]
    return ", ".join(leaked)

def devices():
    allowed = {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
               "fd", "stdin", "stdout", "stderr", "core", "mqueue"}
    return ", ".join(sorted(set(os.listdir("/dev")) - allowed))

def mount_tmpfs():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return "mounted a tmpfs"

def raw_disk():
    os.mknod("/tmp/disk", stat.S_IFBLK | 0o600, int(os.environ["HOST_DEV"]))
    with open("/tmp/disk", "rb") as f:
        data = f.read(512)
    return f"read {len(data)} bytes of the host's disk" if data else ""

def host_files():
    seen = [p for p in (os.environ["DATA_DIR"], os.environ["HOST_SECRET"], os.getcwd() + "/tests")
            if os.path.exists(p)]
    seen += glob.glob("/tmp/oscar-batch-exec-*")  # pod descriptions, API token, emptyDirs
    return ", ".join(seen)

def shadow():
    with open("/etc/shadow") as f:
        return "read /etc/shadow: " + f.readline()[:10]

def token():
    return "/var/run/secrets/kubernetes.io/serviceaccount" if os.path.exists(
        "/var/run/secrets/kubernetes.io/serviceaccount/token") else ""

for name, fn in [("host_files", host_files), ("token", token),
                 ("host_processes", host_processes), ("core_pattern", core_pattern),
                 ("dev_shm", dev_shm), ("sys", sys_writable), ("masked_proc", masked_proc),
                 ("devices", devices), ("mount", mount_tmpfs), ("raw_disk", raw_disk),
                 ("shadow", shadow), ("chroot", chroot_escape)]:
    attempt(name, fn)
"""


def _workflow(env: dict[str, str]) -> str:
    doc = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "hostile-"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "dag": {"tasks": [{"name": "escape", "template": "escape"}]}},
                {
                    "name": "escape",
                    "automountServiceAccountToken": False,
                    # Argo refuses a pod without token unless its own containers get one
                    "executor": {"serviceAccountName": "default"},
                    "container": {
                        "image": "python:3.12-alpine",
                        "command": ["python3", "-c", HOSTILE],
                        "env": [{"name": k, "value": v} for k, v in env.items()],
                    },
                    # a sidecar holding a key, as the rclone sidecar holds the S3 keys
                    "sidecars": [
                        {
                            "name": "keeper",
                            "image": "alpine",
                            "command": ["sh", "-c", "sleep 60"],
                            "env": [
                                {
                                    "name": "KEEPER_KEY",
                                    "valueFrom": {
                                        "secretKeyRef": {
                                            "name": "keeper",
                                            "key": "OSCAR_BATCH_TEST_KEEPER_KEY",
                                        }
                                    },
                                }
                            ],
                        }
                    ],
                },
            ],
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def run_local(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["run", *args, "--local"], env=env)


def test_a_hostile_script_escapes_nothing_and_the_host_is_untouched(tmp_path: Path) -> None:
    host_file = tmp_path / "escaped-to-host"
    host_secret = tmp_path / "host-secret.txt"
    host_secret.write_text("not for pods")
    shm = Path("/dev/shm") / f"oscar-batch-test-{secrets.token_hex(4)}"
    host_token, sidecar_token = secrets.token_hex(12), secrets.token_hex(12)
    data = tmp_path / "data"
    env = {
        "HOST_FILE": str(host_file),
        "HOST_TOKEN": host_token,
        "SIDECAR_TOKEN": sidecar_token,
        "SHM_NAME": shm.name,
        "DATA_DIR": str(data),
        "HOST_SECRET": str(host_secret),
        "HOST_DEV": str(os.stat(tmp_path).st_dev),
    }
    path = tmp_path / "hostile.yaml"
    path.write_text(_workflow(env))
    # a process of this machine holding a secret in its environment
    holder = subprocess.Popen(
        ["sleep", "120"], env={**os.environ, "OSCAR_BATCH_TEST_HOST_TOKEN": host_token}
    )
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    try:
        out = run_local(
            str(path),
            "--data-dir",
            str(data),
            "-o",
            "json",
            env={"OSCAR_BATCH_TEST_KEEPER_KEY": sidecar_token},
        )
    finally:
        holder.kill()
        holder.wait()
        escaped_to_shm = shm.exists()
        shm.unlink(missing_ok=True)
    assert json.loads(out.stdout)["workflow"]["phase"] == "Succeeded", out.stderr
    (logs,) = (data / ".oscar-batch-logs").glob("*")
    (log,) = logs.glob("*-escape-*-main.log")
    said = dict(line.split(": ", 1) for line in log.read_text().splitlines() if ": " in line)
    assert set(said) == {
        "host_files", "token", "host_processes", "core_pattern", "dev_shm", "sys",
        "masked_proc", "devices", "mount", "raw_disk", "shadow", "chroot",
    }, log.read_text()  # fmt: skip
    escaped = {k: v for k, v in said.items() if not v.startswith("blocked")}
    assert escaped == {}
    # and this machine is as it was
    assert not host_file.exists()
    assert not escaped_to_shm
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before


def test_the_data_folder_and_logs_are_private(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: one-}\n"
        "spec:\n  entrypoint: main\n  templates:\n"
        "  - name: main\n    container: {image: alpine, command: [sh, -c, 'echo hello']}\n"
    )
    data = tmp_path / "data"
    out = run_local(str(path), "--data-dir", str(data), "-o", "json")
    assert out.exit_code == 0, out.stderr
    logs = data / ".oscar-batch-logs"
    folders = [data, logs, *[p for p in logs.rglob("*") if p.is_dir()]]
    files = [p for p in logs.rglob("*") if p.is_file()]
    assert files
    assert {str(p): stat.S_IMODE(p.stat().st_mode) for p in folders} == {
        str(p): 0o700 for p in folders
    }
    assert {str(p): stat.S_IMODE(p.stat().st_mode) for p in files} == {str(p): 0o600 for p in files}


def test_the_security_context_is_the_processes(tmp_path: Path) -> None:
    path = tmp_path / "ids.yaml"
    show = "id -u; id -g; grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status"
    path.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: ids-}\n"
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n"
        "    securityContext: {runAsUser: 1000, runAsGroup: 100}\n"
        f"    container: {{image: alpine, command: [sh, -c, '{show}'],"
        " securityContext: {runAsUser: 10001, allowPrivilegeEscalation: false,"
        " capabilities: {drop: [ALL]}}}\n"
    )
    data = tmp_path / "data"
    out = run_local(str(path), "--data-dir", str(data), "-o", "json")
    assert out.exit_code == 0, out.stderr
    (log,) = (data / ".oscar-batch-logs").rglob("*-main-*-main.log")
    lines = log.read_text().split()
    assert lines == ["10001", "100", "CapEff:", "0000000000000000", "NoNewPrivs:", "1"]


def test_image_dir_puts_a_folder_in_one_images_root_only(tmp_path: Path) -> None:
    folder = tmp_path / "tool"
    folder.mkdir()
    (folder / "helper").write_text('#!/bin/sh\necho "helper in $(pwd)"; cat model.txt\n')
    (folder / "helper").chmod(0o755)
    (folder / "model.txt").write_text("weights\n")
    path = tmp_path / "tool.yaml"
    path.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: tool-}\n"
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n"
        "      - {name: a, template: a}\n      - {name: b, template: b}\n"
        f"  - name: a\n    container: {{image: 'example/tool:1', command: [helper],"
        f" workingDir: {folder}}}\n"
        f"  - name: b\n    container: {{image: alpine, command: [sh, -c, 'ls {folder} || true']}}\n"
    )
    data = tmp_path / "data"
    out = run_local(
        str(path), "--data-dir", str(data), "-o", "json", "--image-dir", f"example/tool={folder}"
    )
    assert out.exit_code == 0, out.stderr
    (a,) = (data / ".oscar-batch-logs").rglob("*-a-*-main.log")
    (b,) = (data / ".oscar-batch-logs").rglob("*-b-*-main.log")
    assert a.read_text().split("\n")[:2] == [f"helper in {folder}", "weights"]
    assert "No such file or directory" in b.read_text()
    bad = run_local(str(path), "--data-dir", str(data), "--image-dir", "example/tool")
    assert bad.exit_code == 2 and "expected NAME=VALUE" in bad.stderr


def test_tmp_stays_writable_when_an_image_folder_lies_below_it(tmp_path: Path) -> None:
    """An image folder under /tmp (a checkout there, as CI's may be, or an --image-dir) must
    not turn the root's /tmp into a plain 0755 folder: a stage running as 10001 writes there."""
    tools = tmp_path / "tools"  # under /tmp, as pytest's folders are
    tools.mkdir()
    path = tmp_path / "one.yaml"
    path.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: one-}\n"
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    container:\n"
        "      image: alpine\n      command: [sh, -c, 'mkdir /tmp/out && echo ok > /tmp/out/f']\n"
        "      securityContext: {runAsUser: 10001, runAsNonRoot: true}\n"
    )
    out = run_local(str(path), "--data-dir", str(tmp_path / "data"), f"--image-dir=alpine={tools}")
    assert out.exit_code == 0, out.stderr
