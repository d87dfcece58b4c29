"""The estimate `plan` prints: a wall time and hours from the latest run of the same service."""

from __future__ import annotations

import io
import json
from pathlib import Path

from minio import Minio
from typer.testing import CliRunner

from generator.bucket import layout
from generator.cli import app
from generator.local import rclone
from generator.spec import model as spec
from generator.stages import aggregate, estimate
from tests.conftest import write_spec
from tests.staging import File, stage


def _run(workers: int, per_worker: int, t: float, fixed_start: float) -> dict[str, object]:
    """A report of a run whose workers each store a result every `t` s after `fixed_start` s."""
    s = spec.validate(
        {"name": "e", "service": {"name": "s", "image": "a", "script": "echo"},
         "input": {"bucket": "data"}}, "test"
    )  # fmt: skip
    tally = aggregate.Tally()
    for w in range(workers):
        for j in range(per_worker):
            done = 1000 + fixed_start + (j + 1) * t
            tally.add(
                aggregate.Row(f"k{w}-{j}", "succeeded", f"{w:04d}", 0, t * 0.9, finished=done)
            )
    end = 1000 + fixed_start + per_worker * t
    plan = {"created": 1000.0, "workers": workers,
            "shards": [{"id": f"{w:04d}", "files": per_worker} for w in range(workers)]}  # fmt: skip
    return tally.report(s, "sample", plan, now=end + 20)  # the aggregate takes 20 s


def test_the_fit_finds_seconds_per_file_and_the_fixed_part() -> None:
    for workers in (2, 30):  # lines, then a band
        fitted = estimate.fit(_run(workers, per_worker=50, t=2.0, fixed_start=40))
        assert fitted is not None
        t, fixed = fitted
        assert abs(t - 2.0) < 0.1 and abs(fixed - 60) < 6, (workers, t, fixed)


def test_a_sample_predicts_a_run_ten_times_larger() -> None:
    sample = _run(2, per_worker=15, t=1.0, fixed_start=30)
    full = _run(2, per_worker=150, t=1.0, fixed_start=30)
    guess = estimate.estimate(sample, pending=300, workers=2, cpu=1.5, gpu=1)
    assert guess is not None
    assert abs(guess.wall_seconds / float(full["wall_seconds"]) - 1) < 0.05
    assert guess.cpu_hours == 2 * guess.wall_seconds / 3600 * 1.5
    assert guess.gpu_hours == 2 * guess.wall_seconds / 3600
    assert "run sample: 30 files on 2 workers" in guess.source


def test_a_run_that_processed_nothing_gives_no_estimate() -> None:
    empty = _run(2, per_worker=0, t=1.0, fixed_start=1)
    assert estimate.estimate(empty, 10, 2, 1, 0) is None
    old = _run(2, per_worker=10, t=3.0, fixed_start=10)
    del old["timeline"]  # a report.json of an older version: the mean file seconds
    fitted = estimate.fit(old)
    assert fitted is not None and fitted[0] == 2.7


def test_plan_says_which_run_its_estimate_comes_from(
    s3: Minio, s3_env: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    path = write_spec(
        tmp_path,
        f"name: e\nservice: {{name: s, image: a, script: script.sh, cpu: '2'}}\n"
        f"input: {{bucket: {bucket}, prefix: in/, endpoint: {s3_env.endpoint}}}\n",
    )
    s = spec.load(path)
    listing = tmp_path / "objects.jsonl"
    listing.write_text(
        "".join(json.dumps({"key": f"in/{i}.jpg", "size": 1}) + "\n" for i in range(40))
    )
    args = ["plan", str(path), "--objects-from", str(listing), "--endpoint", s3_env.endpoint]
    cluster = ["--cluster-from", str(_cluster(tmp_path))]
    first = CliRunner().invoke(app, [*args, *cluster, "-o", "json"])
    assert first.exit_code == 0, first.output
    assert "no finished run of this service version" in json.loads(first.stdout)["estimate"]
    stage(s3, s, "sample", [File(f"in/{i}.jpg", "ok") for i in range(4)])
    report = _run(1, per_worker=4, t=5.0, fixed_start=10)
    data = json.dumps(report).encode()
    key = layout.RunLayout.of(s, "sample").report_json
    s3.put_object(bucket, key, io.BytesIO(data), len(data))
    second = CliRunner().invoke(app, [*args, *cluster, "-o", "json"])
    assert second.exit_code == 0, second.output
    got = json.loads(second.stdout)["estimate"]
    assert got["from"].startswith("run sample: 4 files on 1 workers")
    assert abs(got["file_seconds"] - 5) < 0.5 and got["cpu_hours"] > 0
    table = CliRunner().invoke(app, [*args, *cluster])
    assert "estimate:" in table.stdout and "from run sample" in table.stdout


def _cluster(tmp_path: Path) -> Path:
    node = {
        "kind": "Node", "metadata": {"name": "n", "labels": {}},
        "spec": {}, "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                               "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"kind": "List", "items": [node]}))
    return path
