"""Straggler-proof runs: a worker done with its shard takes the units others have not started.

The workers here are real: pods of `run --local`, or runners each behind its own rclone mount
(two pods' views of the bucket, with their listing caches), racing through the claim records.
"""

from __future__ import annotations

import collections
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from minio import Minio

from generator.bucket import claims, layout, results
from generator.clients import kube as cluster
from generator.local import rclone
from generator.stages import aggregate
from generator.stages import plan as planner
from tests.conftest import requires_fuse, write_spec
from tests.k8s import node
from tests.test_local import _spec, _start_runner, mounted

THREE_CPU = cluster.ClusterState([node("n", cpu="3", memory="8Gi")], [], "t")
EXE = Path(sys.executable).parent / "oscar-batch"


def _inputs(data: Path, files: int) -> list[str]:
    (data / "pics" / "in").mkdir(parents=True)
    keys = [f"in/{i:03d}.jpg" for i in range(files)]
    for key in keys:
        (data / "pics" / key).write_bytes(key.encode())
    return keys


def _batch(tmp_path: Path, script: str, extra: str = "") -> Path:
    return write_spec(
        tmp_path / "spec",
        "name: bal\nservice: {name: c, image: alpine, script: script.sh, cpu: 100m, memory: 64Mi}\n"
        "input: {bucket: pics, prefix: in/}\nplanning: {max_workers: 3}\n"
        f"worker: {{batch_size: 2}}\n{extra}",
        script,
    )


def _results(run_root: Path, shard: str = "*") -> collections.Counter[str]:
    """How many successes each file id has in complete result objects, whichever worker's
    folder holds them (or shard's only)."""
    found: collections.Counter[str] = collections.Counter()
    for path in (run_root / "results").glob(f"{shard}/*.results"):
        found.update(r.fid for r in results.parse_batch(path.read_bytes()) or [] if r.ok)
    return found


def _shard_of(run_root: Path) -> dict[str, str]:
    """file id -> the shard the plan put it in."""
    return {
        line.split("\t", 1)[0]: manifest.stem
        for manifest in (run_root / "shards").glob("*.tsv")
        for line in manifest.read_text().splitlines()
    }


def _run_36_each_once(tmp_path: Path, script: str, run: str) -> tuple[dict[str, Any], list[str]]:
    """`run --local` of `script` over 36 files as run `run`: every file succeeded, each
    processed once. Returns the report and the files of shard 0000 that others took."""
    data = tmp_path / "data"
    keys = _inputs(data, 36)
    done = subprocess.run(
        [str(EXE), "run", str(_batch(tmp_path, script)), "--local", "--data-dir", str(data),
         "--run", run, "-o", "json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["succeeded"], report["missing"]) == (36, 0)
    run_root = data / "pics" / "oscar-batch" / run
    results = _results(run_root)
    assert set(results) == {layout.file_id(k) for k in keys}
    assert set(results.values()) == {1}  # each file processed once
    own = _results(run_root, "0000")
    taken = [
        fid for fid, shard in _shard_of(run_root).items() if shard == "0000" and fid not in own
    ]
    return report, taken


@requires_fuse
def test_a_slow_worker_leaves_its_tail_to_the_others(tmp_path: Path) -> None:
    # shard 0000's pod is 40x slower per file than the others (its environment names its shard)
    script = (
        '#!/bin/sh\nif [ "$OSCAR_BATCH_SHARD" = 0000 ]; then sleep 2; else sleep 0.05; fi\n'
        'cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"\n'
    )
    report, taken = _run_36_each_once(tmp_path, script, "slow")
    assert report["workers"] == 3
    # the slow pod did a few of its 12 files; the others took the rest from its tail
    assert len(taken) >= 6, report["shards"]
    # its first take is the plan's (3 one-file units), won without a claim round: the first
    # unit's record still reads as the plan wrote it (the units after it, 40x slower than a
    # take is sized for, went back for others to take)
    records = tmp_path / "data" / "pics" / "oscar-batch" / "slow" / "claims" / "0000"
    assert claims.first_take(12, 3) == 3
    held = claims.parse((records / "0").read_bytes())
    assert held == claims.Claim("held", "0000", claims.GIVEN)


@requires_fuse
def test_a_cluster_of_long_files_is_given_back_and_shared(tmp_path: Path) -> None:
    # shard 0000's files 02-05 take 10x longer: its owner, taking its units in takes sized
    # from the short ones, gives back those it has not started when the first long one ends,
    # while the others still work: they take them from the tail
    script = (
        "#!/bin/sh\ncase $STORAGE_OBJECT_KEY in */00[2-5].jpg) sleep 3 ;; *) sleep 0.3 ;; esac\n"
        'cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"\n'
    )
    report, taken = _run_36_each_once(tmp_path, script, "long")
    assert len(taken) >= 4, report["shards"]


def _taken(s3: Minio, bucket: str, where: layout.RunLayout, shard: planner.Shard) -> None:
    """As if another worker held every unit of the shard: its owner goes straight to stealing."""
    for k in range(shard.units):
        body = claims.record("held", "9999", "x")
        s3.put_object(bucket, where.claim(shard.id, k), io.BytesIO(body), len(body))


def _journal_script(journal: Path, block: str = "") -> str:
    return (
        f'#!/bin/sh\nprintf "%s %s\\n" "$OSCAR_BATCH_SHARD" "$STORAGE_OBJECT_KEY" >>{journal}\n'
        f"{block}sleep 0.05\n"
        'cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"\n'
    )


@requires_fuse
def test_two_workers_racing_for_the_same_units_take_each_once(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    s = _spec(
        tmp_path, bucket, s3_server.endpoint, _journal_script(journal),
        extra="planning: {max_workers: 3}\nworker: {batch_size: 1}\n",
    )  # fmt: skip
    keys = [f"in/{i:02d}.jpg" for i in range(30)]
    for key in keys:
        s3.put_object(bucket, key, io.BytesIO(key.encode()), len(key))
    plan = planner.run_plan(s3, s, "r", THREE_CPU)
    where = layout.RunLayout.of(s, "r")
    a, b, victim = plan.shards
    _taken(s3, bucket, where, a)
    _taken(s3, bucket, where, b)
    # two pods, each with its own mounts (and listing cache), both after shard 2's tail at once
    with mounted(s3_server, bucket, tmp_path / "pa"), mounted(s3_server, bucket, tmp_path / "pb"):
        procs = [
            _start_runner(s, tmp_path / root, shard.id, tmp_path / root)
            for root, shard in (("pa", a), ("pb", b))
        ]
        outs = [p.communicate(timeout=180) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
    runs = journal.read_text().splitlines()
    ran = collections.Counter(line.split(" ", 1)[1] for line in runs)
    # the victim's first unit is the plan's gift to its own pod (which never ran here)
    given = claims.first_take(victim.units, len(plan.shards))
    assert given >= 1 and plan.unit_files == 1
    ids = _victim_ids(s3, bucket, where, victim)[given:]
    victim_keys = {k for k in keys if layout.file_id(k) in ids}
    assert set(ran) == victim_keys and set(ran.values()) == {1}  # none skipped, none twice
    takers = collections.Counter(line.split(" ", 1)[0] for line in runs)
    assert set(takers) == {a.id, b.id}, takers  # both won some races
    for k in range(victim.units):
        held = claims.parse(s3.get_object(bucket, where.claim(victim.id, k)).read())
        holders = (victim.id,) if k < given else (a.id, b.id)
        assert held.state == "held" and held.shard in holders


def _victim_ids(s3: Minio, bucket: str, where: layout.RunLayout, shard: planner.Shard) -> list[str]:
    """The file ids of a shard's manifest, in its order (its units')."""
    text = s3.get_object(bucket, where.shard(shard.id)).read().decode()
    return [line.split("\t", 1)[0] for line in text.splitlines()]


@requires_fuse
def test_a_worker_killed_mid_steal_loses_only_its_unit_which_its_retry_finishes(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    flag = tmp_path / "blocked-once"
    # the stolen unit holding 03.jpg hangs the first time, long enough to be killed in
    block = f"case $STORAGE_OBJECT_KEY in *03.jpg) [ -e {flag} ] || {{ : >{flag}; sleep 60; }} ;; esac\n"
    s = _spec(
        tmp_path, bucket, s3_server.endpoint, _journal_script(journal, block),
        extra="planning: {max_workers: 2}\nworker: {batch_size: 2}\n",
    )  # fmt: skip
    keys = [f"in/{i:02d}.jpg" for i in range(12)]
    for key in keys:
        s3.put_object(bucket, key, io.BytesIO(key.encode()), len(key))
    plan = planner.run_plan(s3, s, "r", THREE_CPU)
    where = layout.RunLayout.of(s, "r")
    victim, thief = plan.shards  # 00-05 and 06-11
    blocked = 3 // plan.unit_files  # the victim's unit holding 03.jpg
    _taken(s3, bucket, where, thief)
    root = tmp_path / "mnt"
    with mounted(s3_server, bucket, root):
        proc = _start_runner(s, root, thief.id, tmp_path)
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        held = claims.parse(s3.get_object(bucket, where.claim(victim.id, blocked)).read())
        assert (held.state, held.shard) == ("held", thief.id)
        again = _start_runner(s, root, thief.id, tmp_path)  # Argo's retry of that pod
        _, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
    ran = collections.Counter(line.split(" ", 1)[1] for line in journal.read_text().splitlines())
    # every file of the victim's shard once, but the killed unit's file that was running, and
    # the victim's first unit (00.jpg), which the plan gave its own pod (that never ran here)
    assert claims.first_take(victim.units, 2) == 1 and plan.unit_files == 1
    assert {k for k in ran} == {f"in/{i:02d}.jpg" for i in range(1, 6)}
    assert ran["in/03.jpg"] == 2 and sum(ran.values()) == 6
    report = aggregate.run_aggregate(s3, s, "r")
    assert (report["succeeded"], report["missing"]) == (
        5,
        7,
    )  # the thief's own were only marked taken


@requires_fuse
def test_resume_after_a_stop_finishes_what_was_left_and_repeats_at_most_what_was_running(
    tmp_path: Path,
) -> None:
    script = '#!/bin/sh\nsleep 0.3\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"\n'
    data = tmp_path / "data"
    keys = _inputs(data, 40)
    spec_path = _batch(tmp_path, script)
    argv = [str(EXE), "run", str(spec_path), "--local", "--data-dir", str(data), "--run", "again"]
    proc = subprocess.Popen(
        [*argv, "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    run_root = data / "pics" / "oscar-batch" / "again"
    deadline = time.monotonic() + 120
    while len(_results(run_root)) < 6:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    before = set(_results(run_root))
    assert 6 <= len(before) < 40
    logs = data / ".oscar-batch-logs" / "again"
    first_logs = set(logs.glob("*-worker-*-main.log"))
    # --force: the stopped run's lock stays (its plan pod's host is gone, not stale yet)
    done = subprocess.run(
        [*argv, "--force", "-o", "json"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["succeeded"], report["missing"]) == (40, 0)
    assert set(_results(run_root)) == {layout.file_id(k) for k in keys}
    # the resumed run processed only files without a result (the plan left the others out)
    second = [
        line.split(" ")[3]
        for log in set(logs.glob("*-worker-*-main.log")) - first_logs
        for line in log.read_text().splitlines()
        if line.startswith("ok ")
    ]
    assert len(second) == len(set(second)) == 40 - len(before)
    assert not {layout.file_id(k) for k in second} & before
