"""The runner's modes and OSCAR semantics through `oscar-batch run --local` (real S3, real FUSE)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import requires_fuse, write_spec
from tests.test_runner import FISH_DETECTOR, FISH_SCRIPT, snapshot
from tests.test_runner_batch import BATCH

pytestmark = [requires_fuse]


def _run(
    tmp_path: Path, script: str, worker: str, keys: list[str], service: str = "", *args: str
) -> tuple[dict[str, Any], Path]:
    data = tmp_path / "data"
    for key in keys:
        path = data / "pics" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.encode() * 100)
    spec_path = write_spec(
        tmp_path / "spec",
        "name: modes\nservice: {name: m, image: alpine, script: script.sh, cpu: 100m,"
        f" memory: 64Mi{service}}}\n"
        f"input: {{bucket: pics, prefix: in/}}\nworker: {{{worker}}}\n"
        "failure: {max_failed_ratio: 0.5}\n",
        script,
    )
    done = CliRunner().invoke(
        app, ["run", str(spec_path), "--local", "--data-dir", str(data), "-o", "json", *args]
    )
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout), data / "pics"


def test_batch_mode_through_run_local(tmp_path: Path) -> None:
    calls = tmp_path / "calls.log"
    script = BATCH.replace("@CALLS@", str(calls)).replace("@STATUS@", "off").replace("@SLEEP@", "0")
    keys = [f"in/f{i:02d}.jpg" for i in range(10)]
    keys[6] = "in/poison.jpg"
    report, bucket = _run(tmp_path, script, "invoke: batch, batch_size: 5", keys)
    assert report["succeeded"] == 9 and report["failed"] == 1
    assert [p["key"] for p in report["problems"]] == ["in/poison.jpg"]
    outputs = bucket / "oscar-batch"
    sizes = sorted(p.parent.name for p in outputs.rglob("size.txt"))
    assert sizes == sorted(k.removeprefix("in/") for k in keys if "poison" not in k)


def test_a_workdir_script_writing_next_to_its_input_leaves_the_bucket_alone(
    tmp_path: Path,
) -> None:
    app_dir = tmp_path / "app"  # the image's WORKDIR, with the service's program
    app_dir.mkdir()
    (app_dir / "fish_detector.py").write_text(FISH_DETECTOR)
    keys = ["in/a.jpg", "in/sub/b.jpg"]
    data = tmp_path / "data" / "pics" / "in"
    report, bucket = _run(
        tmp_path,
        FISH_SCRIPT,
        "file_timeout: 30",
        keys,
        f", workdir: {app_dir}",
        "--image-dir",
        f"alpine={app_dir}",
    )
    assert report["succeeded"] == 2
    assert sorted(snapshot(data)) == ["a.jpg", "sub/b.jpg"]  # nothing added, nothing removed
    out = next(bucket.glob("oscar-batch/*/outputs/sub/b.jpg"))
    assert (out / "b.jpg.fish.txt").read_text() == f"{len(keys[1]) * 100} bytes, 1 fish\n"


def test_outputs_a_bucket_cannot_hold_fail_their_file_only(tmp_path: Path) -> None:
    script = """#!/bin/sh
case $INPUT_FILE_PATH in
  *fifo*) mkfifo "$TMP_OUTPUT_DIR/pipe" ;;
  *sparse*) dd if=/dev/zero of="$TMP_OUTPUT_DIR/holes" bs=1 count=1 seek=20M 2>/dev/null ;;
esac
echo fine > "$TMP_OUTPUT_DIR/out.txt"
"""
    keys = ["in/a.jpg", "in/fifo.jpg", "in/sparse.jpg", "in/b.jpg"]
    report, bucket = _run(tmp_path, script, "file_timeout: 60", keys)
    problems = {p["key"]: p for p in report["problems"]}
    assert report["succeeded"] >= 2 and "in/a.jpg" not in problems and "in/b.jpg" not in problems
    assert problems["in/fifo.jpg"]["reason"] == "output"
    # a sparse file through the mount: stored whole, or that file's failure, never the shard's
    assert problems.get("in/sparse.jpg", {"reason": "output"})["reason"] == "output"
    assert not list(bucket.glob("oscar-batch/*/outputs/fifo.jpg"))
