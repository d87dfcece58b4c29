"""The worker's mounts as a pod has them (workerpod.mounts), with real `rclone mount`s: the
input is read-only, and names that differ only in Unicode form stay apart."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio

from generator.bucket import layout
from generator.build import runner_script as runner
from generator.build import sidecar, workerpod
from generator.clients.kube import ClusterState
from generator.local import rclone
from generator.spec import model as spec
from generator.stages import plan as planner
from tests import worker
from tests.conftest import requires_fuse, write_spec
from tests.k8s import node
from tests.staging import latest

ROOMY = ClusterState([node("n", cpu="8", memory="32Gi")], [], "test")


@contextlib.contextmanager
def _pod_mounts(s: spec.BatchSpec, server: rclone.S3Server, root: Path) -> Iterator[None]:
    env = {
        **sidecar.keyed_env(server.endpoint, server.access_key, server.secret_key),
        **rclone.EMBEDDED_SERVER_ENV,
    }
    with contextlib.ExitStack() as stack:
        for m in workerpod.mounts(s, str(root), "r"):
            stack.enter_context(rclone.mount(m.remote, Path(m.point), env, read_only=m.read_only))
        yield


def _run_shard(s: spec.BatchSpec, server: rclone.S3Server, tmp_path: Path, shard: str) -> str:
    root = tmp_path / "mnt"
    script = tmp_path / "script.sh"
    script.write_text(s.service.script)
    runner_sh = tmp_path / "runner.sh"
    runner_sh.write_text(
        runner.render(m.point for m in workerpod.mounts(s, str(root), "r") if m.runner)
    )
    env = {
        "PATH": os.environ["PATH"],
        **runner.environment(s, mnt_root=str(root), run="r", shard=shard, script=str(script)),
        "TMPDIR": str(tmp_path),
    }
    with _pod_mounts(s, server, root):
        done = worker.run(s, runner_sh, env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _spec(
    tmp_path: Path, bucket: str, endpoint: str, script: str, extra: str = ""
) -> spec.BatchSpec:
    text = (
        "name: t\nservice: {name: s, image: alpine, script: script.sh, cpu: 1, memory: 1Gi}\n"
        f"input: {{endpoint: '{endpoint}', bucket: {bucket}, prefix: in/}}\n"
        f"planning: {{max_workers: 1}}\n{extra}"
    )
    return spec.load(write_spec(tmp_path / "spec", text, script))


def test_input_and_output_mounts(tmp_path: Path) -> None:
    shared = _spec(tmp_path, "data", "http://x:1", "true\n")
    # the runner's read-write mount shows the run's folder only, never the inputs
    assert [(m.remote, m.point, m.read_only) for m in workerpod.mounts(shared, "/mnt", "r")] == [
        ("data", "/mnt/data", True),
        ("data/oscar-batch/r", "/mnt/.oscar-batch/data", False),
    ]
    assert sidecar.mount_args("data", "/mnt/data", read_only=True)[-1] == "--read-only"
    env = runner.environment(shared, mnt_root="/mnt", run="r", shard="0", script="/s")
    assert env["OSCAR_BATCH_INPUT_DIR"] == "/mnt/data/in"
    assert env["OSCAR_BATCH_RUN_DIR"] == "/mnt/.oscar-batch/data"
    apart = spec.validate({**shared.model_dump(mode="json"), "output": {"bucket": "results"}}, "t")
    assert [(m.remote, m.point, m.read_only) for m in workerpod.mounts(apart, "/mnt", "r")] == [
        ("data", "/mnt/data", True),
        ("results/oscar-batch/r", "/mnt/.oscar-batch/results", False),
    ]
    data = apart.model_dump(mode="json")
    data["service"]["mount"] = {"bucket": "models"}  # OSCAR's `mount`, read-write as in OSCAR
    with_mount = spec.validate(data, "t")
    assert [(m.point, m.read_only) for m in workerpod.mounts(with_mount, "/mnt", "r")][2:] == [
        ("/mnt/models", False)
    ]


@requires_fuse
@pytest.mark.parametrize("staged", ["copy", "link"])
def test_scripts_cannot_alter_sources(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path, staged: str
) -> None:
    hostile = (
        'cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"\n'
        'case "$INPUT_FILE_PATH" in *rm*) rm -f "$INPUT_FILE_PATH" ;;'
        ' *) echo changed > "$INPUT_FILE_PATH" ;; esac\n'
    )
    s = _spec(tmp_path, bucket, s3_server.endpoint, hostile, f"worker: {{input: {staged}}}\n")
    keys = ["in/rm-1.jpg", "in/rm-2.jpg", "in/write-1.jpg", "in/write-2.jpg"]
    for key in keys:
        s3.put_object(bucket, key, io.BytesIO(key.encode()), len(key))
    (shard,) = planner.run_plan(s3, s, "r", ROOMY).shards
    _run_shard(s, s3_server, tmp_path, shard.id)
    for key in keys:  # the bucket is untouched
        assert s3.get_object(bucket, key).read() == key.encode()
        fid = layout.file_id(key)
        # the copy is the script's own, as OSCAR's; removing the link only touches the private
        # folder, writing through it hits the read-only mount and fails that file
        assert latest(s3, bucket)[fid] == (staged != "link" or "/write-" not in key)


@requires_fuse
def test_unicode_twins_keep_their_own_outputs(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    nfc, nfd = (unicodedata.normalize(f, "in/café.jpg") for f in ("NFC", "NFD"))
    assert nfc != nfd
    for key, body in ((nfc, b"composed"), (nfd, b"decomposed")):
        s3.put_object(bucket, key, io.BytesIO(body), len(body))
    s = _spec(
        tmp_path, bucket, s3_server.endpoint, 'cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"\n'
    )
    (shard,) = planner.run_plan(s3, s, "r", ROOMY).shards
    _run_shard(s, s3_server, tmp_path, shard.id)
    for key, body in ((nfc, b"composed"), (nfd, b"decomposed")):
        rel = key.removeprefix("in/")
        assert s3.get_object(bucket, f"oscar-batch/r/outputs/{rel}/copy").read() == body


def _sidecar(server: rclone.S3Server, bucket: str, point: Path) -> subprocess.Popen[bytes]:
    """The sidecar's command exactly as the workflow has it, rclone from this machine."""
    point.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{Path(rclone.binary()).parent}:{os.environ['PATH']}",
        **sidecar.keyed_env(server.endpoint, server.access_key, server.secret_key),
        **rclone.EMBEDDED_SERVER_ENV,
    }
    argv = sidecar.sidecar_command(bucket, str(point), False)
    proc = subprocess.Popen(argv, env=env, start_new_session=True)
    deadline = time.monotonic() + 20
    while not _fuse_mounted(point):
        assert proc.poll() is None and time.monotonic() < deadline, "the mount never came up"
        time.sleep(0.05)
    return proc


def _fuse_mounted(point: Path) -> bool:
    target = sidecar.proc_mounts_escape(str(point))
    lines = Path("/proc/mounts").read_text().splitlines()
    return any(
        line.split(" ")[1] == target and line.split(" ")[2].startswith("fuse") for line in lines
    )


def _rclone_pid(wrapper: subprocess.Popen[bytes]) -> int:
    children = Path(f"/proc/{wrapper.pid}/task/{wrapper.pid}/children").read_text().split()
    (child,) = children
    return int(child)


@requires_fuse
@pytest.mark.parametrize("how", ["sigkill-rclone", "term-group-twice"])
def test_the_sidecar_never_leaves_a_dead_mount(
    s3_server: rclone.S3Server, bucket: str, tmp_path: Path, how: str
) -> None:
    point = tmp_path / "mnt" / bucket
    wrapper = _sidecar(s3_server, bucket, point)
    try:
        if how == "sigkill-rclone":
            os.kill(_rclone_pid(wrapper), signal.SIGKILL)
        else:  # as Argo's emissary signals: the whole process group (osspecific Kill)
            os.killpg(wrapper.pid, signal.SIGTERM)
            os.killpg(wrapper.pid, signal.SIGTERM)
        wrapper.wait(30)
        left_mounted = _fuse_mounted(point)
    finally:
        if wrapper.poll() is None:
            os.killpg(wrapper.pid, signal.SIGKILL)
        rclone.unmount(point)
    assert not left_mounted
