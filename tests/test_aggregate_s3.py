"""The aggregate against the real S3 server, on runs staged object by object."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
from minio import Minio

from generator.bucket import identity, layout, rundocs
from generator.local import rclone
from generator.spec import model as spec
from generator.stages import aggregate
from tests.conftest import write_spec
from tests.staging import File, put, put_result, stage


def _spec(tmp_path: Path, bucket: str, extra: str = "") -> spec.BatchSpec:
    text = (
        "name: t\nservice: {name: s, image: ghcr.io/x/det:v1, script: script.sh}\n"
        f"input: {{bucket: {bucket}, prefix: in/}}\nfailure: {{max_failed_ratio: 1}}\n{extra}"
    )
    return spec.load(write_spec(tmp_path, text))


def _read(s3: Minio, bucket: str, key: str) -> str:
    return s3.get_object(bucket, key).read().decode()


def test_latest_result_wins_and_stale_outputs_are_not_reported(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    s = _spec(tmp_path, bucket)
    dets = b'[{"label": "fish"}, {"label": "crab"}]'
    stage(
        s3,
        s,
        "r",
        [
            File("in/a.jpg", "ok", {"det.json": dets}),
            File("in/b.jpg", "ok", {"det.json": b'[{"label": "eel"}]'}),
        ],
    )
    time.sleep(0.01)
    # a later attempt failed on a.jpg; its success (and outputs) of before are still there
    put_result(s3, s, "r", File("in/a.jpg", "fail", log="model crashed"))
    report = aggregate.run_aggregate(s3, s, "r")
    assert (report["succeeded"], report["failed"]) == (1, 1)
    assert report["problems"][0]["key"] == "in/a.jpg"
    rows = {
        r["key"]: r
        for r in csv.DictReader(io.StringIO(_read(s3, bucket, "oscar-batch/r/report.csv")))
    }
    assert rows["in/a.jpg"]["status"] == "failed" and rows["in/a.jpg"]["outputs"] == ""
    merged = [json.loads(x) for x in _read(s3, bucket, "oscar-batch/r/results.jsonl").splitlines()]
    assert merged == [{"input_key": "in/b.jpg", "output": "det.json", "label": "eel"}]


def test_merged_tables_hold_every_record_tagged_by_key(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    s = _spec(tmp_path, bucket)
    stage(
        s3,
        s,
        "r",
        [
            File("in/a.jpg", "ok", {"det.json": b'[{"n": 1}, {"n": 2}]', "counts.csv": b"cls,n\nfish,2\ncrab,1\n"}),
            File("in/b.jpg", "ok", {"meta.json": b'{"w": 640}', "counts.csv": b"cls,score\neel,0.9\n", "img.png": b"\x89PNG"}),
            File("in/c.jpg", "ok", {"lines.jsonl": b'{"t": 1}\n\n{"t": 2}\n', "bad.json": b"{not json"}),
        ],
    )  # fmt: skip
    report = aggregate.run_aggregate(s3, s, "r")
    jsonl = [json.loads(x) for x in _read(s3, bucket, "oscar-batch/r/results.jsonl").splitlines()]
    assert jsonl == [
        {"input_key": "in/a.jpg", "output": "det.json", "n": 1},
        {"input_key": "in/a.jpg", "output": "det.json", "n": 2},
        {"input_key": "in/b.jpg", "output": "meta.json", "w": 640},
        {"input_key": "in/c.jpg", "output": "lines.jsonl", "t": 1},
        {"input_key": "in/c.jpg", "output": "lines.jsonl", "t": 2},
    ]
    table = list(csv.reader(io.StringIO(_read(s3, bucket, "oscar-batch/r/results.csv"))))
    assert table == [
        ["input_key", "output", "cls", "n", "score"],
        ["in/a.jpg", "counts.csv", "fish", "2", ""],
        ["in/a.jpg", "counts.csv", "crab", "1", ""],
        ["in/b.jpg", "counts.csv", "eel", "", "0.9"],
    ]
    assert report["merged"]["records"] == 8 and report["merged"]["unreadable"] == 1
    # merging off: no tables, and those of an earlier aggregate are removed
    off = _spec(tmp_path, bucket, "output: {merge: []}\n")
    assert aggregate.run_aggregate(s3, off, "r")["merged"] is None
    only_csv = _spec(tmp_path, bucket, "output: {merge: [csv]}\n")
    aggregate.run_aggregate(s3, only_csv, "r")
    names = {o.object_name for o in s3.list_objects(bucket, "oscar-batch/r/", recursive=False)}
    assert "oscar-batch/r/results.csv" in names and "oscar-batch/r/results.jsonl" not in names


def test_report_csv_cells_cannot_be_formulas(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    s = _spec(tmp_path, bucket)
    stage(
        s3,
        s,
        "r",
        [
            File("in/=HYPERLINK(1).jpg", "fail", log='=cmd|" /C calc"!A0'),
            File("in/@sum.jpg", "fail", log="+1+1"),
            File("in/plain.jpg", "fail", log="-2"),
        ],
    )
    aggregate.run_aggregate(s3, s, "r")
    rows = list(csv.DictReader(io.StringIO(_read(s3, bucket, "oscar-batch/r/report.csv"))))
    # keys under the prefix start with "in/": the error cells are the formulas here
    assert [r["error"] for r in rows] == ['\'=cmd|" /C calc"!A0', "'+1+1", "'-2"]
    assert all(not r[c].startswith(("=", "+", "-", "@")) for r in rows for c in r)


def test_problems_are_capped_and_report_csv_holds_every_file(
    s3: Minio,
    s3_server: rclone.S3Server,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aggregate, "PROBLEMS_SHOWN", 3)
    s = _spec(tmp_path, bucket)
    stage(s3, s, "r", [File(f"in/{i}.jpg", "fail", log="x" * 3000) for i in range(5)])
    report = aggregate.run_aggregate(s3, s, "r")
    assert len(report["problems"]) == 3 and report["problems_total"] == 5
    assert all(len(p["error"]) == 2000 for p in report["problems"])  # the log tail only
    assert len(_read(s3, bucket, "oscar-batch/r/report.csv").splitlines()) == 6


@pytest.mark.parametrize("first", [1, 2])
def test_report_after_a_resume_describes_this_attempt(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path, first: int
) -> None:
    # first=1: the first attempt ran before result format 2 (a resume across the change)
    s = _spec(tmp_path, bucket)
    # attempt 1 processed a, b (shard 0000) and c (shard 0001) ...
    files = [
        File("in/a.jpg", "ok", {"o.txt": b"1"}, seconds=1.0),
        File("in/b.jpg", "ok", {"o.txt": b"1"}, seconds=1.0),
        File("in/c.jpg", "fail", seconds=2.0, shard="0001"),
        File("in/d.jpg", None),
        File("in/e.jpg", None),
    ]
    stage(s3, s, "r", files, created=time.time() - 100, fmt=first)
    time.sleep(0.01)
    # ... attempt 2's plan (10 s ago) gave d and e to a new shard 0000: d timed out, e was empty
    where = layout.RunLayout.of(s, "r")
    plan = json.loads(_read(s3, bucket, where.plan))
    put(s3, bucket, where.plan, json.dumps({**plan, "created": time.time() - 10}).encode())
    time.sleep(0.01)
    put_result(
        s3,
        s,
        "r",
        File("in/d.jpg", "fail", seconds=5.0, reason="timeout", invocation="i1", identity="v0"),
    )
    put_result(s3, s, "r", File("in/e.jpg", "ok", seconds=0.25, invocation="i2"))
    report = aggregate.run_aggregate(s3, s, "r")
    assert (report["succeeded"], report["failed"], report["no_output"]) == (3, 2, 1)
    assert report["attempt"] == {"processed": 2, "succeeded": 1, "failed": 1}
    assert 10 <= report["wall_seconds"] < 60
    # both figures rounded to 3 decimals from the same wall time: one may round the other way
    assert report["throughput_files_per_s"] == pytest.approx(2 / report["wall_seconds"], abs=1e-3)
    assert report["file_seconds"]["max"] == 5.0 and report["file_seconds"]["files"] == 2
    assert report["shards"] == {"0000": {"files": 2, "succeeded": 1, "failed": 1, "seconds": 5.25}}
    assert (report["mode"], report["invocations"]) == ("file", 2)
    assert report["identities"] == {identity.of(s).fingerprint: 4, "v0": 1}
    assert "(1 with no output)" in rundocs.summary_line(report)
    # the same run again, nothing new: throughput 0, not the totals over the wall time
    put(s3, bucket, where.plan, json.dumps({**plan, "created": time.time() - 5}).encode())
    again = aggregate.run_aggregate(s3, s, "r")
    assert again["attempt"]["processed"] == 0 and again["throughput_files_per_s"] == 0.0
    assert again["file_seconds"]["max"] is None and again["shards"] == {}


def test_a_planted_plan_fails_the_aggregate_in_one_line(
    s3: Minio, s3_server: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    s = _spec(tmp_path, bucket)
    stage(s3, s, "r", [File("in/a.jpg", "ok")])
    put(s3, bucket, "oscar-batch/r/plan.json", b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(rundocs.Unreadable, match=r"^s3://.*/oscar-batch/r/plan.json: nested too"):
        aggregate.run_aggregate(s3, s, "r")
    put(s3, bucket, "oscar-batch/r/plan.json", json.dumps({"identity": "x"}).encode())
    with pytest.raises(rundocs.Unreadable, match="identity: input should be a valid dictionary"):
        aggregate.run_aggregate(s3, s, "r")
