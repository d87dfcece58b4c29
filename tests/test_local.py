"""End to end through the real S3 server and the real FUSE mount: `run --local`, kills, durability."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from minio import Minio
from typer.testing import CliRunner

from generator.bucket import claims, identity, layout
from generator.build import runner_script as runner
from generator.build import sidecar, workerpod
from generator.cli import app
from generator.clients import kube as cluster
from generator.local import rclone
from generator.spec import model as spec
from generator.stages import aggregate
from generator.stages import plan as planner
from tests import worker
from tests.conftest import requires_fuse, write_spec
from tests.k8s import node
from tests.staging import latest
from tests.test_pages import elements
from tests.test_runner import KEYS

pytestmark = [requires_fuse]

COPY = """#!/bin/sh
set -eu
name=${INPUT_FILE_PATH##*/}
case "$name" in *bad*) echo "refusing $name" >&2; exit 7;; esac
cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"
printf '%s' "$STORAGE_OBJECT_KEY" > "$TMP_OUTPUT_DIR/key.txt"
"""


def _spec(
    tmp_path: Path, bucket: str, endpoint: str | None, script: str = COPY, extra: str = ""
) -> spec.BatchSpec:
    ep = f"endpoint: {endpoint}, " if endpoint else ""
    text = (
        "name: e2e\nservice: {name: copy, image: alpine, script: script.sh, cpu: 100m, memory: 64Mi}\n"
        f"input: {{{ep}bucket: {bucket}, prefix: in/}}\n{extra}"
    )
    return spec.load(write_spec(tmp_path / "spec", text, script))


def s3_has(s3: Minio, bucket: str, key: str) -> bool:
    return any(True for _ in s3.list_objects(bucket, prefix=key))


def _put(s3: Minio, bucket: str, key: str, data: bytes) -> None:
    s3.put_object(bucket, key, io.BytesIO(data), len(data))


# rclone's local backend stores a tab in a file name as U+2409 and its s3 backend quotes that
# again: through the embedded server (only) such a key cannot round-trip. test_runner covers tabs.
HOSTILE = [k for k in KEYS if "\t" not in k]


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["run", *args, "--local"])


def test_embedded_server_run_with_hostile_keys_and_failures(tmp_path: Path) -> None:
    data = tmp_path / "my data"  # a space in the data folder too
    keys = [*HOSTILE, "in/bad-one.jpg", "in/sub/bad-two.jpg"]
    for key in keys:
        path = data / "photos" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.encode() * 10)
    spec_path = write_spec(
        tmp_path / "spec",
        "name: e2e\nservice: {name: copy, image: alpine, script: script.sh, cpu: 100m, memory: 64Mi}\n"
        "input: {bucket: photos, prefix: in/}\n"
        "planning: {max_workers: 3}\nfailure: {max_failed_ratio: 0.5}\n",
        COPY,
    )
    out = _cli(str(spec_path), "--data-dir", str(data), "--run", "first", "-o", "json")
    assert out.exit_code == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["planned"] == len(keys)
    assert report["succeeded"] == len(HOSTILE)
    assert {p["key"] for p in report["problems"]} == {"in/bad-one.jpg", "in/sub/bad-two.jpg"}
    assert all(p["exit_code"] == 7 and "refusing" in p["error"] for p in report["problems"])
    assert report["passed"]
    logs = data / ".oscar-batch-logs" / "first"
    assert len(list(logs.glob("*-worker-*-main.log"))) == 3
    run_root = data / "photos" / "oscar-batch" / "first"
    for key in HOSTILE:
        out_dir = run_root / "outputs" / key.removeprefix("in/")
        assert (out_dir / "copy").read_bytes() == key.encode() * 10
    assert json.loads((run_root / "report.json").read_text())["succeeded"] == len(HOSTILE)
    # the page the Argo UI shows, written by the aggregate pod beside report.json
    page = elements((run_root / "report.html").read_text())
    assert page.tags.count("svg") == 4 and "script" not in page.tags
    rows = (run_root / "report.csv").read_text().splitlines()
    assert len(rows) == len(keys) + 1
    assert not list(tmp_path.rglob("pwned*"))
    # 15.15: only what this run started is looked at (other runs may be active on the machine)
    assert str(data) not in Path("/proc/mounts").read_text()


def test_cli_run_local_json_and_rerun_skips_everything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for i in range(12):
        (data / "pics" / "in").mkdir(parents=True, exist_ok=True)
        (data / "pics" / "in" / f"{i}.jpg").write_bytes(b"x" * i)
    spec_path = write_spec(
        tmp_path / "spec",
        "name: cli\nservice: {name: c, image: alpine, script: script.sh, cpu: 100m, memory: 64Mi}\ninput: {bucket: pics, prefix: in/}\n",
        COPY,
    )
    first = _cli(str(spec_path), "--data-dir", str(data), "-o", "json", "--workers", "2")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["succeeded"] == 12
    assert "runs its command on this machine" in first.stderr
    plan_logs = data / ".oscar-batch-logs" / identity.default_run(spec.load(spec_path))
    second = _cli(str(spec_path), "--data-dir", str(data))
    assert second.exit_code == 0, second.stderr
    assert "nothing to do: 12/12 succeeded" in second.stderr
    # the page beside report.json, the one the Argo UI shows
    assert (
        f"/oscar-batch/{identity.default_run(spec.load(spec_path))}/report.html\n" in second.stderr
    )
    name = identity.default_run(spec.load(spec_path))
    assert f"resuming {name}: all 12 file(s) done, nothing to do" in second.stderr
    said = [p.read_text() for p in plan_logs.glob("*-plan-*-main.log")]
    assert sum(f"new run {name}: 12 file(s) to process" in t for t in said) == 1
    again = _cli(str(spec_path), "--data-dir", str(data), "--no-skip-existing")
    assert again.exit_code == 0, again.stderr
    assert f"resuming {name}: 12 file(s) to process" in again.stderr


def slow_batch(
    tmp_path: Path, name: str, files: int, script: str, extra: str = "worker: {batch_size: 4}\n"
) -> tuple[Path, Path]:
    """A data folder with `files` inputs in s3://pics/in/ and a spec of that name (+ `extra`;
    by default results are written every 4 files, so they show up early in these runs)."""
    data = tmp_path / "data"
    (data / "pics" / "in").mkdir(parents=True)
    for i in range(files):
        (data / "pics" / "in" / f"{i:03d}.jpg").write_bytes(b"x")
    spec_path = write_spec(
        tmp_path / "spec",
        f"name: {name}\nservice: {{name: c, image: alpine, script: script.sh, cpu: 100m,"
        " memory: 64Mi}\ninput: {bucket: pics, prefix: in/}\nplanning: {max_workers: 2}\n" + extra,
        script,
    )
    return data, spec_path


def _work_of(pid: int) -> Path | None:
    """The temp folder of the run with this pid: its sweeper child names it (15.15: only what
    this test started is looked at, while other runs may be active on the machine)."""
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"generator.local.lifetime" in argv:
            return Path(argv[argv.index(b"generator.local.lifetime") + 1].decode())
    return None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_stopped_run_leaves_no_process_mount_or_folder(tmp_path: Path, sig: int) -> None:
    data, spec_path = slow_batch(tmp_path, "stop", 200, "sleep 0.2\n")
    exe = Path(sys.executable).parent / "oscar-batch"
    proc = subprocess.Popen(
        [str(exe), "run", str(spec_path), "--local", "--data-dir", str(data), "-o", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run = identity.default_run(spec.load(spec_path))  # the run name the CLI defaults to
    results = data / "pics" / "oscar-batch" / run / "results"
    deadline = time.monotonic() + 90
    while not list(results.rglob("*.results")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    work = _work_of(proc.pid)
    assert work is not None and work.exists()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130
        assert err.strip().splitlines()[-1] == "oscar-batch: interrupted"
        assert "Traceback" not in err
    deadline = time.monotonic() + 30  # after SIGKILL the pods stop on their own, then the sweeper
    while work.exists() or _pids(str(work)) or _pids(str(data)):
        assert time.monotonic() < deadline, (work, _pids(str(work)), _pids(str(data)))
        time.sleep(0.2)
    assert str(work) not in Path("/proc/mounts").read_text()


def _pids(pattern: str) -> str:
    """Processes whose command line names `pattern` (a folder only this test uses)."""
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout


@contextmanager
def mounted(s3_server: rclone.S3Server, bucket: str, root: Path) -> Iterator[Path]:
    """The bucket mounted as a worker pod mounts it (workerpod.mounts): read-only at
    root/<bucket>, run r's folder read-write at root/.oscar-batch/<bucket>; yields that one."""
    env = sidecar.keyed_env(s3_server.endpoint, s3_server.access_key, s3_server.secret_key)
    env = {**env, **rclone.EMBEDDED_SERVER_ENV}
    with (
        rclone.mount(bucket, root / bucket, env, read_only=True),
        rclone.mount(f"{bucket}/oscar-batch/r", root / workerpod.WRITE_ROOT / bucket, env) as point,
    ):
        yield point


def _start_runner(
    s: spec.BatchSpec, root: Path, shard: str, tmp_path: Path
) -> subprocess.Popen[str]:
    script = tmp_path / "script.sh"
    script.write_text(s.service.script)
    runner_sh = tmp_path / "runner.sh"
    runner_sh.write_text(
        runner.render(m.point for m in workerpod.mounts(s, str(root), "r") if m.runner)
    )
    env = {
        **os.environ,
        **runner.environment(s, mnt_root=str(root), run="r", shard=shard, script=str(script)),
        "TMPDIR": str(tmp_path),
    }
    return worker.start(s, runner_sh, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


ONE_CPU = cluster.ClusterState([node("n", cpu="1", memory="8Gi")], [], "t")


@pytest.mark.parametrize(("groups", "delay"), [(1, 0.0), (2, 0.15), (2, 0.35)])
def test_sigkill_mid_shard_then_rerun_loses_nothing_and_repeats_nothing(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path, groups: int, delay: float
) -> None:
    # results are written every 3 files (and at the end of each claimed unit): killed `delay`
    # s after `groups` objects were written, the runner is in a script, storing outputs, or
    # writing the next group's results
    journal = tmp_path / "journal"
    slow = COPY + f'sleep 0.2\nprintf "done %s\\n" "$STORAGE_OBJECT_KEY" >> {journal}\n'
    extra = "planning: {max_workers: 1}\nworker: {batch_size: 3}\n"
    s = _spec(tmp_path, bucket, s3_server.endpoint, slow, extra=extra)
    keys = [f"in/{i:02d}.jpg" for i in range(20)]
    for key in keys:
        _put(s3, bucket, key, key.encode())
    plan = planner.run_plan(s3, s, "r", ONE_CPU)
    (shard,) = plan.shards
    root = tmp_path / "mnt"
    with mounted(s3_server, bucket, root):
        proc = _start_runner(s, root, shard.id, tmp_path)
        deadline = time.monotonic() + 60
        results = f"oscar-batch/r/results/{shard.id}/"
        while sum(1 for _ in s3.list_objects(bucket, prefix=results)) < groups:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        before = journal.read_text().splitlines()
        ids = {layout.file_id(k): k for k in keys}
        recorded = {ids[fid] for fid, ok in latest(s3, bucket).items() if ok}
        # an object per 3 files, or fewer at the end of a claimed unit
        assert groups <= len(recorded) < 20
        again = _start_runner(s, root, shard.id, tmp_path)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
    after = journal.read_text().splitlines()[len(before) :]
    # every file completed; none whose result was recorded ran again. Only the files of the
    # group whose results were not yet written (at most 3) run twice, to the same outputs.
    assert {line.removeprefix("done ") for line in before + after} == set(keys)
    assert not recorded & {line.removeprefix("done ") for line in after}
    assert len(before) + len(after) - len(keys) <= 3
    assert out.count("skip ") == len(recorded)
    report = aggregate.run_aggregate(s3, s, "r")
    assert (report["succeeded"], report["failed"], report["missing"]) == (20, 0, 0)
    assert sum(report["shards"][shard.id][v] for v in ("succeeded", "failed")) == 20
    for key in keys:
        copy = s3.get_object(bucket, f"oscar-batch/r/outputs/{key[3:]}/copy").read()
        assert copy == key.encode()


def test_outputs_are_in_s3_when_the_sidecar_is_killed_right_after(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    big = COPY + 'head -c 6291456 /dev/urandom > "$TMP_OUTPUT_DIR/big.bin"\n'
    s = _spec(tmp_path, bucket, s3_server.endpoint, big, extra="planning: {max_workers: 1}\n")
    keys = [f"in/{i}.jpg" for i in range(3)]
    for key in keys:
        _put(s3, bucket, key, b"img")
    (shard,) = planner.run_plan(s3, s, "r", ONE_CPU).shards
    root = tmp_path / "mnt"
    with mounted(s3_server, bucket, root):
        proc = _start_runner(s, root, shard.id, tmp_path)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    # leaving the block sent SIGTERM to rclone at once, as Argo does to the sidecar
    for key in keys:
        stat = s3.stat_object(bucket, f"oscar-batch/r/outputs/{key[3:]}/big.bin")
        assert stat.size == 6291456
    assert latest(s3, bucket) == {layout.file_id(key): True for key in keys}


def test_files_nobody_ran_are_missing_and_a_live_worker_takes_a_dead_ones_units(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    s = _spec(tmp_path, bucket, s3_server.endpoint, extra="planning: {max_workers: 2}\n")
    for i in range(6):
        _put(s3, bucket, f"in/{i}.jpg", b"x")
    two_cpus = cluster.ClusterState([node("n", cpu="2", memory="8Gi")], [], "t")
    plan = planner.run_plan(s3, s, "r", two_cpus)
    assert [len(sh.members) for sh in plan.shards] == [3, 3]
    report = aggregate.run_aggregate(s3, s, "r", tmp_path / "outputs")  # no worker ran
    assert (report["succeeded"], report["missing"]) == (0, 6)
    assert not report["passed"]
    assert (tmp_path / "outputs" / "missing").read_text() == "6"
    assert (
        tmp_path / "outputs" / "report"
    ).read_text() == f"s3://{bucket}/oscar-batch/r/report.json"
    csv_rows = s3.get_object(bucket, "oscar-batch/r/report.csv").read().decode().splitlines()
    assert sum(",missing," in row for row in csv_rows) == 6
    # shard 1's worker never starts: shard 0's does its own units, then claims the free ones;
    # shard 1's first unit, which the plan gave its own pod, stays missing until it runs
    root = tmp_path / "mnt"
    with mounted(s3_server, bucket, root):
        proc = _start_runner(s, root, plan.shards[0].id, tmp_path)
        proc.communicate(timeout=60)
    report = aggregate.run_aggregate(s3, s, "r", tmp_path / "outputs")
    assert claims.first_take(plan.shards[1].units, 2) == 1 and plan.unit_files == 1
    assert (report["succeeded"], report["missing"]) == (5, 1)
    with mounted(s3_server, bucket, root):
        proc = _start_runner(s, root, plan.shards[1].id, tmp_path)
        proc.communicate(timeout=60)
    report = aggregate.run_aggregate(s3, s, "r", tmp_path / "outputs")
    assert (report["succeeded"], report["missing"]) == (6, 0)
    cli = CliRunner().invoke(app, ["stage", "aggregate", "--help"])
    assert cli.exit_code == 0


@pytest.mark.parametrize("with_space", [True])
def test_mount_helper_cleans_up_after_errors(
    s3_server: rclone.S3Server, bucket: str, tmp_path: Path, with_space: bool
) -> None:
    root = tmp_path / ("m n" if with_space else "mn")
    with pytest.raises(RuntimeError), mounted(s3_server, bucket, root) as point:
        assert rclone.is_mounted(point)
        raise RuntimeError("boom")
    assert not rclone.is_mounted(root / bucket)
