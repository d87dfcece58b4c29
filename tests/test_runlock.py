"""One run at a time per run folder: the lock against the real S3 server and through the CLI."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from minio import Minio
from typer.testing import CliRunner

from generator.bucket import identity, layout
from generator.bucket import lock as runlock
from generator.cli import app
from generator.errors import RunError
from generator.local import rclone
from generator.spec import model as spec
from tests.conftest import requires_fuse, write_spec
from tests.staging import put


def acquire(s3: Minio, s: spec.BatchSpec, run: str, **how: Any) -> runlock.Holder:
    """Take, then confirm: what the plan does around its reads."""
    return runlock.confirm(s3, s, run, runlock.take(s3, s, run, **how))


def _spec(tmp_path: Path, bucket: str) -> spec.BatchSpec:
    text = (
        f"name: t\nservice: {{name: s, image: a, script: script.sh}}\ninput: {{bucket: {bucket}}}\n"
    )
    return spec.load(write_spec(tmp_path, text))


def _held(host: str, pid: int) -> bytes:
    return json.dumps(
        {"owner": "ana", "host": host, "pid": pid, "started": time.time(), "token": "t"}
    ).encode()


def test_a_held_lock_refuses_naming_its_holder(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    s = _spec(tmp_path, bucket)
    where = layout.RunLayout.of(s, "r")
    mine = acquire(s3, s, "r", settle=0)
    assert json.loads(s3.get_object(bucket, where.lock).read())["token"] == mine.token
    acquire(s3, s, "r", settle=0)  # this process again (a retry): taken
    put(s3, bucket, where.lock, _held("ws-7", 4242))
    with pytest.raises(RunError, match=r"run r is in progress: locked by ana on ws-7 \(pid 4242\)"):
        acquire(s3, s, "r", settle=0)
    assert acquire(s3, s, "r", force=True, settle=0).host == socket.gethostname()
    runlock.release(s3, s, "r")
    assert not list(s3.list_objects(bucket, where.lock))
    # a lock of a process of this host that is gone (Ctrl-C, kill) is stale
    dead = 2**22 + 12345
    with pytest.raises(ProcessLookupError):
        os.kill(dead, 0)
    put(s3, bucket, where.lock, _held(socket.gethostname(), dead))
    acquire(s3, s, "r", settle=0)


def test_stale_after_a_quiet_run_folder(tmp_path: Path) -> None:
    s = spec.load(
        write_spec(
            tmp_path,
            "name: t\nservice: {name: s, image: a, script: script.sh}\ninput: {bucket: data}\nworker: {file_timeout: 60}\n",
        )
    )
    assert runlock.quiet_seconds(s) == 720


@requires_fuse
def test_second_run_of_a_held_name_exits_1(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "pics" / "in").mkdir(parents=True)
    (data / "pics" / "in" / "a.jpg").write_bytes(b"x")
    path = write_spec(
        tmp_path / "spec",
        "name: t\nservice: {name: s, image: a, script: script.sh}\ninput: {bucket: pics, prefix: in/}\n",
    )
    run = identity.default_run(spec.load(path))
    lock = data / "pics" / "oscar-batch" / run / "lock.json"
    lock.parent.mkdir(parents=True)
    lock.write_bytes(_held("ws-7", 4242))
    result = CliRunner().invoke(app, ["run", str(path), "--local", "--data-dir", str(data)])
    assert result.exit_code == 1
    # the plan pod refuses; run --local shows its message and the workflow's failure last
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("oscar-batch: workflow ") and " Failed: " in lines[-1]
    (line,) = [x.split(": oscar-batch: ", 1)[1] for x in lines if ": oscar-batch: run " in x]
    line = "oscar-batch: " + line
    assert line.startswith(
        f"oscar-batch: run {run} is in progress: locked by ana on ws-7 (pid 4242) since 20"
    )
    assert line.endswith(
        "pass --force if it is gone (a lock goes stale after 7800s without writes)"
    )
    assert not list((data / "pics" / "oscar-batch" / run).glob("shards/*"))  # nothing planned


def test_a_live_process_of_this_host_keeps_its_lock(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    s = _spec(tmp_path, bucket)
    where = layout.RunLayout.of(s, "r")
    put(s3, bucket, where.lock, _held(socket.gethostname(), os.getppid()))
    with pytest.raises(RunError, match=f"pid {os.getppid()}"):
        acquire(s3, s, "r", settle=0)  # another process of this host, alive


def test_a_workflow_holds_its_lock_whichever_pod_asks(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    s = _spec(tmp_path, bucket)
    where = layout.RunLayout.of(s, "r")
    first = acquire(s3, s, "r", settle=0, workflow="uid-1")
    # another pod of the same workflow (a retried plan: new hostname and pid)
    held = json.loads(s3.get_object(bucket, where.lock).read())
    put(s3, bucket, where.lock, json.dumps({**held, "host": "old-pod", "pid": 1}).encode())
    again = acquire(s3, s, "r", settle=0, workflow="uid-1")
    assert again.workflow == first.workflow == "uid-1"
    with pytest.raises(RunError, match=r"locked by workflow uid-1 \(pod "):
        acquire(s3, s, "r", settle=0, workflow="uid-2")
    with pytest.raises(RunError, match="locked by workflow uid-1"):
        acquire(s3, s, "r", settle=0)  # nor a process outside any workflow
    # only its own workflow's aggregate removes it
    assert not runlock.release_if_mine(s3, s, "r", "uid-2")
    assert list(s3.list_objects(bucket, where.lock))
    assert runlock.release_if_mine(s3, s, "r", "uid-1")
    assert not list(s3.list_objects(bucket, where.lock))


def test_a_plan_waiting_for_room_keeps_its_lock_fresh(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    from generator.clients.kube import ClusterState
    from generator.errors import ClusterError
    from generator.stages import plan as planner
    from tests.k8s import node

    s = _spec(tmp_path, bucket)
    put(s3, bucket, "a.jpg", b"x")
    where = layout.RunLayout.of(s, "r")
    full = ClusterState([node("n1", cpu="100m")])

    def stamp() -> float:
        (obj,) = s3.list_objects(bucket, where.lock)
        return obj.last_modified.timestamp()

    stamps_seen: list[float] = []
    waiting = planner.Waiting(
        lambda: (stamps_seen.append(stamp()), full)[1], lambda _line: None, 2.5,
        sleep=lambda seconds: time.sleep(1.1),
    )  # fmt: skip
    with pytest.raises(ClusterError, match="waited"):
        planner.run_plan(s3, s, "r", full, waiting=waiting, workflow="uid-1")
    # each look at the cluster rewrote the lock (a quiet run folder goes stale)
    assert len(stamps_seen) >= 2 and stamps_seen[-1] > stamps_seen[0]
    assert not list(s3.list_objects(bucket, where.lock))  # released when the wait failed
