"""Breaking the pipeline on purpose: S3 down mid-run, the mount gone, huge outputs, bad input."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from minio import Minio
from typer.testing import CliRunner

from generator.bucket import identity, layout, results
from generator.cli import app
from generator.clients import s3 as storage
from generator.errors import SpecError
from generator.local import rclone
from generator.spec import model as spec
from generator.stages import aggregate
from generator.stages import plan as planner
from tests.conftest import requires_fuse, write_spec
from tests.staging import latest
from tests.test_local import ONE_CPU, _spec, _start_runner, mounted, slow_batch


@requires_fuse
def test_s3_down_for_seconds_mid_run_still_accounts_for_every_file(tmp_path: Path) -> None:
    root = tmp_path / "s3"
    (root / "pics" / "in").mkdir(parents=True)
    for i in range(40):
        (root / "pics" / "in" / f"{i:02d}.jpg").write_bytes(b"x" * 100)
    slow = 'sleep 0.1\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"\n'
    stack = contextlib.ExitStack()
    server = stack.enter_context(rclone.serve_s3(root))
    path = write_spec(
        tmp_path / "spec",
        "name: outage\nservice: {name: c, image: alpine, script: script.sh, cpu: 100m, memory: 64Mi}\n"
        f"input: {{endpoint: '{server.endpoint}', bucket: pics, prefix: in/}}\n"
        "planning: {max_workers: 2}\nworker: {batch_size: 4}\n",
        slow,
    )
    env = {
        **os.environ,
        storage.ACCESS_ENV: server.access_key,
        storage.SECRET_ENV: server.secret_key,
    }
    exe = Path(sys.executable).parent / "oscar-batch"
    proc = subprocess.Popen(
        [str(exe), "run", str(path), "--local", "--data-dir", str(tmp_path / "d"), "-o", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    results = root / "pics" / "oscar-batch" / identity.default_run(spec.load(path)) / "results"
    while not list(results.rglob("*.results")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    stack.close()  # the S3 server goes away ...
    time.sleep(3)
    with rclone.serve_s3(root, again=server):  # ... and comes back at the same address
        out, err = proc.communicate(timeout=180)
    report = json.loads(out)
    assert report["planned"] == 40, err
    assert report["succeeded"] + report["failed"] + report["missing"] == 40
    assert report["missing"] == 0


@requires_fuse
def test_the_mount_disappearing_stops_the_worker_and_nothing_lands_on_local_disk(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    slow = 'sleep 0.1\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"\n'
    s = _spec(
        tmp_path,
        bucket,
        s3_server.endpoint,
        slow,
        extra="planning: {max_workers: 1}\nworker: {mount_wait: 1, batch_size: 4}\n",
    )
    for i in range(30):
        s3.put_object(bucket, f"in/{i:02d}.jpg", io.BytesIO(b"x"), 1)
    (shard,) = planner.run_plan(s3, s, "r", ONE_CPU).shards
    root = tmp_path / "mnt"
    with mounted(s3_server, bucket, root) as point:
        proc = _start_runner(s, root, shard.id, tmp_path)
        deadline = time.monotonic() + 60  # the mount goes away mid-shard, not before it starts
        while not list((point / "results").rglob("*.results")):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        subprocess.run([shutil.which("fusermount3") or "fusermount", "-uz", str(point)], check=True)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "disappeared" in err
    assert list(point.iterdir()) == []  # no result or output written under the vanished mount
    report = aggregate.run_aggregate(s3, s, "r")
    assert report["planned"] == 30 and report["missing"] > 0
    assert report["succeeded"] + report["missing"] == 30 and report["failed"] == 0
    # the files of the group whose results were not written yet (at most 4) are redone
    assert report["succeeded"] <= out.count("ok ") <= report["succeeded"] + 4


@requires_fuse
def test_huge_output_is_stored_whole(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    huge = 'head -c 67108864 /dev/zero > "$TMP_OUTPUT_DIR/huge.bin"\n'
    s = _spec(tmp_path, bucket, s3_server.endpoint, huge, extra="planning: {max_workers: 1}\n")
    s3.put_object(bucket, "in/a.jpg", io.BytesIO(b"x"), 1)
    (shard,) = planner.run_plan(s3, s, "r", ONE_CPU).shards
    with mounted(s3_server, bucket, tmp_path / "mnt"):
        proc = _start_runner(s, tmp_path / "mnt", shard.id, tmp_path)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert s3.stat_object(bucket, "oscar-batch/r/outputs/a.jpg/huge.bin").size == 64 * 2**20
    assert latest(s3, bucket) == {layout.file_id("in/a.jpg"): True}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bad-credentials", "the S3 secret key is wrong"),
        ("missing-bucket", "bucket 'nowhere' does not exist"),
        ("empty-prefix", "no file under s3://"),
        ("no-match", "matches *.jpg"),
    ],
)
def test_bad_input_is_one_clear_line_and_nothing_half_written(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path, case: str, message: str
) -> None:
    if case == "no-match":
        s3.put_object(bucket, "in/a.png", io.BytesIO(b"x"), 1)
    target = "nowhere" if case == "missing-bucket" else bucket
    path = write_spec(
        tmp_path,
        f"name: bad\nservice: {{name: s, image: a, script: script.sh}}\n"
        f"input: {{endpoint: '{s3_server.endpoint}', bucket: {target}, prefix: in/, include: ['*.jpg']}}\n"
        f"output: {{bucket: {bucket}}}\n",
    )
    secret = "wrong-secret-0042" if case == "bad-credentials" else s3_server.secret_key
    env = {storage.ACCESS_ENV: s3_server.access_key, storage.SECRET_ENV: secret}
    result = CliRunner().invoke(
        app, ["run", str(path), "--local", "--data-dir", str(tmp_path / "d")], env=env
    )
    assert result.exit_code == 1
    # the plan pod's own line, shown with its node; the secret never
    assert message in result.stderr
    assert secret not in result.stderr + result.stdout
    assert [
        o.object_name for o in s3.list_objects(bucket, prefix="oscar-batch/", recursive=True)
    ] == []


# Any mapping a user can write either loads or fails with one SpecError line: never a traceback.
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_sections = {
    "name": st.sampled_from(["ok", "Bad_Name", "", "x" * 50]) | _values,
    "service": st.fixed_dictionaries(
        {
            "name": st.sampled_from(["svc", "S V C"]),
            "image": st.text(max_size=5),
            "script": st.sampled_from(["script.sh", "nope.sh"]),
        },
        optional={
            "cpu": _values,
            "memory": _values,
            "gpu": _values,
            "env": _values,
            "secrets": _values,
            "fdl": _values,
        },
    )
    | _values,
    "input": st.fixed_dictionaries(
        {"bucket": st.sampled_from(["data", "B", "a"])},
        optional={"prefix": _values, "include": _values, "endpoint": _values},
    )
    | _values,
    "planning": _values,
    "argo": _values,
    "failure": _values,
    "junk": _values,
}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.fixed_dictionaries({}, optional=_sections))
def test_spec_loader_never_crashes(tmp_path: Path, data: dict[str, object]) -> None:
    path = write_spec(tmp_path, yaml.safe_dump(data))
    try:
        loaded = spec.load(path)
    except SpecError as exc:
        assert "\n" not in str(exc)
    else:
        assert loaded.name and loaded.service.image


# how long these runs wait for a silent server (the default, localrun.S3_GIVE_UP, is 30 s)
GIVE_UP = 8


def _run_until_a_result(data: Path, path: Path) -> tuple[subprocess.Popen[str], int]:
    """`run --local` started on `path`, once a first file has its result; and its S3 server."""
    exe = Path(sys.executable).parent / "oscar-batch"
    proc = subprocess.Popen(
        [str(exe), "run", str(path), "--local", "--data-dir", str(data), "--s3-give-up",
         str(GIVE_UP)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while not list(data.rglob("*.results")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    (server,) = [c for c in children if b"serve" in Path(f"/proc/{c}/cmdline").read_bytes()]
    return proc, int(server)


@requires_fuse
def test_a_dead_s3_server_ends_the_run_within_the_stated_bound(tmp_path: Path) -> None:
    """15.9: the embedded server killed mid-run: the run gives up (--s3-give-up), stops
    every pod and leaves nothing, instead of freezing in a FUSE read for many minutes."""
    data, path = slow_batch(
        tmp_path, "dead", 60, 'sleep 0.2; cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/c"\n'
    )
    proc, server = _run_until_a_result(data, path)
    os.kill(server, signal.SIGKILL)
    _, err = proc.communicate(timeout=GIVE_UP + 60)
    assert proc.returncode == 1
    assert f"did not answer for {GIVE_UP} s: every pod was stopped" in err
    assert str(data) not in Path("/proc/mounts").read_text()


@requires_fuse
def test_a_frozen_s3_server_ends_the_run_and_no_file_is_blamed(tmp_path: Path) -> None:
    """Issue 20 item 5: the embedded server stopped (SIGSTOP) mid-run still accepts TCP
    connections (the kernel does): the run must give up on it as on a dead one, and the stall
    must not be recorded as the script's timeout."""
    data, path = slow_batch(
        tmp_path,
        "frozen",
        40,
        'sleep 0.2; cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/c"\n',
        "worker: {file_timeout: 3, batch_size: 4}\n",
    )
    proc, server = _run_until_a_result(data, path)
    os.kill(server, signal.SIGSTOP)
    try:
        _, err = proc.communicate(timeout=GIVE_UP + 40)
    except subprocess.TimeoutExpired:
        os.kill(server, signal.SIGCONT)  # let the stalled run finish as it would
        _, err = proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server, signal.SIGCONT)
    assert f"did not answer for {GIVE_UP} s: every pod was stopped" in err
    assert proc.returncode == 1
    # no file blamed for the server's stall
    written = (results.parse_batch(p.read_bytes()) or [] for p in data.rglob("*.results"))
    assert all(r.ok for records in written for r in records)
    assert str(data) not in Path("/proc/mounts").read_text()
