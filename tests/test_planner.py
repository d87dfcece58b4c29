"""The plan stage against the real S3 server: listing, manifests, skip-existing, clear failures."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest
from minio import Minio

from generator.bucket import claims, layout, results
from generator.clients import kube as cluster
from generator.clients import s3 as storage
from generator.errors import ClusterError, StorageError
from generator.spec import model as spec
from generator.stages import plan as planner
from tests.conftest import write_spec
from tests.k8s import node

HOSTILE = [
    "in/with space.jpg",
    "in/quote'single.jpg",
    'in/quote"double.jpg',
    "in/$(touch pwned).jpg",
    "in/ünïcødé-🐟.jpg",
    "in/-leading-dash.jpg",
    "in/deep/a/b/c/d/e.jpg",
    "in/tab\there.jpg",
]


def _spec(tmp_path: Path, bucket: str, extra: str = "") -> spec.BatchSpec:
    text = f"name: t\nservice: {{name: s, image: alpine, script: script.sh, cpu: 1, memory: 1Gi}}\ninput: {{bucket: {bucket}, prefix: in/, include: ['*.jpg']}}\n{extra}"
    return spec.load(write_spec(tmp_path, text))


def _put(s3: Minio, bucket: str, key: str, data: bytes = b"x") -> None:
    s3.put_object(bucket, key, io.BytesIO(data), len(data))


ROOMY = cluster.ClusterState([node("n", cpu="64", memory="256Gi")], [], "test")


def test_plan_writes_manifests_index_and_plan(s3: Minio, bucket: str, tmp_path: Path) -> None:
    for i, key in enumerate([*HOSTILE, "in/skip.png", "in/folder/", "other/x.jpg"]):
        _put(s3, bucket, key, b"x" * (i + 1))
    s = _spec(tmp_path, bucket, "planning: {max_workers: 3}\n")
    plan = planner.run_plan(s3, s, "run-1", ROOMY)
    assert plan.files == len(HOSTILE) and plan.workers == 3
    where = layout.RunLayout.of(s, "run-1")
    seen = []
    for shard in plan.shards:
        text = storage.get_bytes(s3, bucket, where.shard(shard.id)).decode()
        for line in text.splitlines():
            fid, json_key, rel = line.split("\t", 2)
            assert fid == layout.file_id(json.loads(json_key))
            assert "in/" + rel == json.loads(json_key)
            seen.append(json.loads(json_key))
    assert sorted(seen) == sorted(HOSTILE)
    index = storage.get_bytes(s3, bucket, where.index).decode().splitlines()
    assert len(index) == len(HOSTILE)
    saved = json.loads(storage.get_bytes(s3, bucket, where.plan))
    assert saved["workers"] == 3 and saved["files"] == len(HOSTILE)
    assert [s["id"] for s in saved["shards"]] == ["0000", "0001", "0002"]


def test_each_workers_first_take_is_held_for_it_from_the_plan(
    s3: Minio, bucket: str, tmp_path: Path
) -> None:
    # its worker starts on these units without a claim round; the others start free
    for i in range(300):
        _put(s3, bucket, f"in/{i:03d}.jpg")
    s = _spec(tmp_path, bucket, "planning: {max_workers: 3}\nworker: {batch_size: 2}\n")
    plan = planner.run_plan(s3, s, "r", ROOMY)
    where = layout.RunLayout.of(s, "r")
    units = storage.get_bytes(s3, bucket, where.units).decode().splitlines()
    assert units == [f"{sh.id}\t50\t2\t4" for sh in plan.shards]
    for shard in plan.shards:
        states = [
            claims.parse(storage.get_bytes(s3, bucket, where.claim(shard.id, k)))
            for k in range(shard.units)
        ]
        assert states[:4] == [claims.Claim("held", shard.id, claims.GIVEN)] * 4
        assert {c.state for c in states[4:]} == {"free"}
    # a quarter of a shard under 16 units, at least one; a plan of one shard gives it all
    assert [claims.first_take(u, 2) for u in (0, 1, 7, 9, 25, 400)] == [0, 1, 1, 2, 4, 4]
    assert claims.first_take(37, 1) == 37


def test_keys_a_mount_cannot_show_are_reported_not_dropped(
    s3: Minio, bucket: str, tmp_path: Path
) -> None:
    # S3 servers other than this one (AWS) accept such keys: plan from a listing that has them
    listing = [
        ("in/ok.jpg", 1),
        ("in/a//double.jpg", 1),
        ("in/./dot.jpg", 1),
        ("in/line\nbreak.jpg", 1),
    ]
    s = _spec(tmp_path, bucket)
    plan = planner.run_plan(s3, s, "r", ROOMY, objects=listing)
    assert plan.files == 1
    assert {r for _, r in plan.rejected} == {
        "key has an empty, '.' or '..' path segment",
        "key contains a line break",
    }
    index = storage.get_bytes(s3, bucket, layout.RunLayout.of(s, "r").index).decode()
    assert index.count("\n") == 4  # the rejected keys are in the index, to be reported


def test_skip_existing_plans_only_what_is_left(s3: Minio, bucket: str, tmp_path: Path) -> None:
    keys = [f"in/{i}.jpg" for i in range(10)]
    for key in keys:
        _put(s3, bucket, key)
    s = _spec(tmp_path, bucket)
    where = layout.RunLayout.of(s, "again")
    # results of format 1 (one object per file: a run begun before format 2) ...
    for key in keys[:4]:
        _put(s3, bucket, f"{where.results}0003/{layout.file_id(key)}.ok", b"exit_code 0\n")
    _put(s3, bucket, f"{where.results}0001/{layout.file_id(keys[5])}.fail", b"exit_code 1\n")
    time.sleep(0.01)
    # ... then of format 2: keys 6 and 7 succeeded, key 0 failed since
    later = [(keys[6], True), (keys[7], True), (keys[0], False)]
    batch = [results.Record(layout.file_id(k), ok) for k, ok in later]
    _put(s3, bucket, f"{where.results}0000/a-000001.results", results.encode("0000", "", batch))
    plan = planner.run_plan(s3, s, "again", ROOMY)
    assert (plan.files, plan.pending) == (10, 5)  # a failed file is tried again


def test_bytes_balance(s3: Minio, bucket: str, tmp_path: Path) -> None:
    sizes = [5000, 4000, 3000, 10, 10, 10, 10, 10]
    for i, size in enumerate(sizes):
        _put(s3, bucket, f"in/{i}.jpg", b"x" * size)
    s = _spec(tmp_path, bucket, "planning: {max_workers: 3, balance: bytes}\n")
    plan = planner.run_plan(s3, s, "b", ROOMY, write=False)
    assert sorted(sh.bytes for sh in plan.shards) == [3050, 4000, 5000]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing-bucket", "bucket 'no-such-bucket' does not exist"),
        ("empty", "no file under s3://"),
        ("no-match", "matches *.jpg"),
    ],
)
def test_clear_failures_write_nothing(
    s3: Minio, bucket: str, tmp_path: Path, setup: str, message: str
) -> None:
    if setup == "no-match":
        _put(s3, bucket, "in/a.png")
    target = "no-such-bucket" if setup == "missing-bucket" else bucket
    s = _spec(tmp_path, target)
    with pytest.raises(StorageError, match=re.escape(message)):
        planner.run_plan(s3, s, "r", ROOMY)
    leftovers = [
        o.object_name for o in s3.list_objects(bucket, prefix="oscar-batch/", recursive=True)
    ]
    assert leftovers == []


def test_bad_credentials_name_no_secret(s3_server, bucket: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wrong = storage.make_client(s3_server.endpoint, s3_server.access_key, "not-the-secret-key-42")
    with pytest.raises(StorageError) as err:
        planner.run_plan(wrong, _spec(tmp_path, bucket), "r", ROOMY)
    assert "not-the-secret-key-42" not in str(err.value) and s3_server.secret_key not in str(
        err.value
    )
    assert "\n" not in str(err.value)


def test_unreachable_endpoint(tmp_path: Path) -> None:
    from generator.local.rclone import free_port

    client = storage.make_client(f"http://127.0.0.1:{free_port()}", "a", "b")
    client._http.connection_pool_kw["retries"] = None  # keep this test fast: no backoff
    with pytest.raises(StorageError, match=r"cannot reach S3 at 127\.0\.0\.1"):
        storage.require_bucket(client, "data")


def test_no_capacity_is_a_clear_error(s3: Minio, bucket: str, tmp_path: Path) -> None:
    _put(s3, bucket, "in/a.jpg")
    tiny = cluster.ClusterState([node("tiny", cpu="500m")], [], "test")
    with pytest.raises(ClusterError, match="no worker fits on any node; not enough cpu"):
        planner.run_plan(s3, _spec(tmp_path, bucket), "r", tiny)


def test_width_rules() -> None:
    S = spec.validate(
        {
            "name": "w",
            "service": {"name": "s", "image": "i", "script": "true"},
            "input": {"bucket": "data"},
            "planning": {"max_workers": 10, "min_files_per_worker": 25},
        },
        "test",
    )
    from generator.stages.capacity import NodeFit

    fits = [NodeFit("a", fits=4), NodeFit("b", fits=3)]
    assert planner.decide_width(fits, 1000, S)[0] == 7
    assert planner.decide_width(fits, 30, S) == (
        2,
        "2 worker(s), limited by 30 files / min_files_per_worker 25",
    )
    assert planner.decide_width(fits, 1, S)[0] == 1
    assert planner.decide_width([NodeFit("a", fits=40)], 10**6, S)[1].endswith(
        "planning.max_workers"
    )


def test_the_runs_own_files_are_never_input(s3: Minio, bucket: str, tmp_path: Path) -> None:
    text = f"name: t\nservice: {{name: s, image: a, script: script.sh}}\ninput: {{bucket: {bucket}}}\noutput: {{prefix: results/}}\n"
    s = spec.load(write_spec(tmp_path, text))
    _put(s3, bucket, "a.jpg")
    _put(s3, bucket, "results/t/outputs/a.jpg/a.json")
    _put(s3, bucket, "results-not-ours.jpg")
    plan = planner.run_plan(s3, s, "t", ROOMY)
    assert plan.files == 2
    again = planner.run_plan(s3, s, "t", ROOMY)
    assert again.files == 2


def test_another_runs_bookkeeping_is_never_input(tmp_path: Path) -> None:
    """A chain in layout run: the second service reads the first one's output folder, which
    holds that run's folder; only its outputs are input (issue 22: 9 planned instead of 2)."""
    text = "name: t\nservice: {name: s, image: a, script: script.sh}\ninput: {bucket: b-1, prefix: mid/}\n"
    s = spec.load(write_spec(tmp_path, text))
    run = "mid/first-0123456789/"
    listing = [
        (f"{run}{name}", 1)
        for name in (
            "index.tsv", "lock.json", "plan.json", "report.csv", "report.json", "results.csv",
            "results.jsonl", "results/0000/0123456789abcdef.ok", "shards/0000.tsv",
            "outputs/street.mp4/street/img1.jpg", "outputs/street.mp4/street/img2.jpg",
        )
    ] + [("mid/own/plan.json", 1), ("mid/index.tsv", 1)]  # fmt: skip
    got = planner.collect(listing, s, set(), "second")
    assert got.keys == [
        f"{run}outputs/street.mp4/street/img1.jpg",
        f"{run}outputs/street.mp4/street/img2.jpg",
        "mid/index.tsv",  # a folder with no plan.json beside it is no run folder
        "mid/own/plan.json",
    ]
    assert list(got.sizes) == [1, 1, 1, 1]
