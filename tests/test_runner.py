"""The worker runner script, run with sh on a plain folder laid out like the mount (no FUSE needed)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from generator import layout, runner, spec
from tests.conftest import write_spec

KEYS = [
    "in/with space.jpg",
    "in/quote'single.jpg",
    'in/quote"double.jpg',
    "in/$(touch pwned).jpg",
    "in/`touch pwned2`.jpg",
    "in/ünïcødé-🐟.jpg",
    "in/-leading-dash.jpg",
    "in/deep/a/b/c/d/e.jpg",
    "in/tab\there.jpg",
    "in/back\\slash.jpg",
    "in/100%.jpg",
]

# A service in OSCAR's style: reads INPUT_FILE_PATH, writes to TMP_OUTPUT_DIR, records its env.
ECHO = """#!/bin/sh
set -eu
name=${INPUT_FILE_PATH##*/}
case "$name" in *fail*) echo "cannot process $INPUT_FILE_PATH" >&2; exit 3;; esac
case "$name" in *hang*) sleep 30;; esac
wc -c < "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/size.txt"
printf '%s' "$STORAGE_OBJECT_KEY" > "$TMP_OUTPUT_DIR/key.txt"
printf '%s' "$EVENT" > "$TMP_OUTPUT_DIR/event.json"
printf '%s|%s|%s' "$MODEL" "$TMP_INPUT_DIR" "$JOB_UUID" > "$TMP_OUTPUT_DIR/env.txt"
"""


class Layout:
    def __init__(self, tmp_path: Path, script: str = ECHO, extra: str = "") -> None:
        text = (
            "name: t\nservice: {name: s, image: alpine, script: script.sh, env: {MODEL: v3}}\n"
            "input: {bucket: data, prefix: in/}\n"
            # a spec refuses duplicate keys: `extra` may bring its own worker section
            f"{'' if extra.startswith('worker:') else 'worker: {file_timeout: 2}'}\n{extra}"
        )
        self.spec = spec.load(write_spec(tmp_path / "spec", text, script))
        self.mnt = tmp_path / "mnt"
        self.work = tmp_path / "work"
        self.work.mkdir()
        self.data = self.mnt / "data"
        self.run_dir = self.data / "oscar-batch" / "r1"
        (self.run_dir / "shards").mkdir(parents=True)
        self.script = tmp_path / "script.sh"
        self.script.write_text(self.spec.service.script)
        self.runner = tmp_path / "runner.sh"
        self.runner.write_text(runner.render([]))

    def add(self, keys: list[str], shard: str = "0000") -> None:
        lines = []
        for key in keys:
            path = self.data / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(key.encode())
            lines.append(layout.manifest_line(key, key.removeprefix("in/")))
        (self.run_dir / "shards" / f"{shard}.tsv").write_text("".join(lines))

    def run(self, shard: str = "0000") -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ["PATH"],
            **runner.environment(
                self.spec, mnt_root=str(self.mnt), run="r1", shard=shard, script=str(self.script)
            ),
            "ARGO_PROGRESS_FILE": str(self.work / "progress"),
            "TMPDIR": str(self.work),
        }
        return subprocess.run(
            ["sh", str(self.runner)],
            env=env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def result(self, key: str, status: str = "ok") -> Path:
        return self.run_dir / "results" / "0000" / f"{layout.file_id(key)}.{status}"


def test_hostile_keys_are_processed_safely(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    lay.add(KEYS)
    done = lay.run()
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("pwned*")), "a key was executed as a command"
    for key in KEYS:
        out = lay.run_dir / "outputs" / key.removeprefix("in/")
        assert (out / "key.txt").read_text() == key
        assert (out / "size.txt").read_text().strip() == str(len(key.encode()))
        event = json.loads((out / "event.json").read_text())
        assert event["Records"][0]["s3"]["object"]["key"] == key
        assert event["Key"] == f"data/{key}"
        model, tmp_input, job = (out / "env.txt").read_text().split("|")
        assert model == "v3" and (lay.data / key).parent == Path(tmp_input) and job
        result = lay.result(key).read_text()
        assert result.startswith("exit_code 0\nseconds ") and result.endswith("outputs 4\n")
    assert (lay.work / "progress").read_text() == f"{len(KEYS)}/{len(KEYS)}\n"
    statuses = [line.split(" ")[0] for line in done.stdout.splitlines()]
    assert statuses == ["ok"] * len(KEYS)
    assert list(lay.work.iterdir()) == [lay.work / "progress"]  # scratch cleaned up


def test_a_failing_file_is_recorded_and_the_shard_goes_on(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    keys = ["in/a.jpg", "in/fail-me.jpg", "in/b.jpg", "in/hang.jpg", "in/c.jpg"]
    lay.add(keys)
    done = lay.run()
    assert done.returncode == 0, done.stderr
    assert [line.split(" ")[0] for line in done.stdout.splitlines() if not line.startswith("  |")] == [
        "ok", "fail", "ok", "fail", "ok",
    ]  # fmt: skip
    failed = lay.result("in/fail-me.jpg", "fail").read_text()
    assert failed.startswith("exit_code 3\n") and "reason failed" in failed
    assert failed.rstrip().endswith("cannot process " + str(lay.data / "in/fail-me.jpg"))
    hung = lay.result("in/hang.jpg", "fail").read_text()
    assert "reason timeout" in hung and hung.startswith("exit_code 124")
    assert not (lay.run_dir / "outputs" / "fail-me.jpg").exists()


def test_rerun_skips_what_succeeded_and_retries_what_failed(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    lay.add(["in/a.jpg", "in/fail-once.jpg"])
    lay.run()
    assert lay.result("in/fail-once.jpg", "fail").exists()
    lay.script.write_text(ECHO.replace("*fail*)", "*never*)"))
    done = lay.run()
    assert [line.split(" ")[0] for line in done.stdout.splitlines()] == ["skip", "ok"]
    assert lay.result("in/fail-once.jpg").exists()
    assert not lay.result("in/fail-once.jpg", "fail").exists()


def test_skip_existing_off_processes_again(tmp_path: Path) -> None:
    lay = Layout(tmp_path, extra="worker: {file_timeout: 2, skip_existing: false}\n")
    lay.add(["in/a.jpg"])
    lay.run()
    assert [line.split(" ")[0] for line in lay.run().stdout.splitlines()] == ["ok"]


def test_scripts_without_shebang_run_with_sh_and_with_one_use_it(tmp_path: Path) -> None:
    lay = Layout(tmp_path, script='echo "$0" > "$TMP_OUTPUT_DIR/how"\n')
    lay.add(["in/a.jpg"])
    assert lay.run().returncode == 0
    assert (lay.run_dir / "outputs" / "a.jpg" / "how").read_text().strip().endswith("script")
    bash = Layout(
        tmp_path / "b", script='#!/bin/bash\necho "${BASH_VERSION:-none}" > "$TMP_OUTPUT_DIR/how"\n'
    )
    bash.add(["in/a.jpg"])
    assert bash.run().returncode == 0
    assert (bash.run_dir / "outputs" / "a.jpg" / "how").read_text().strip() != "none"


def test_a_service_that_writes_nothing_succeeds_with_no_outputs(tmp_path: Path) -> None:
    lay = Layout(tmp_path, script="true\n")
    lay.add(["in/a.jpg"])
    assert lay.run().returncode == 0
    assert lay.result("in/a.jpg").read_text().endswith("outputs 0\n")
    assert not (lay.run_dir / "outputs").exists()


@pytest.mark.parametrize("problem", ["no-manifest", "unwritable-result"])
def test_storage_failures_exit_non_zero_for_argo_to_retry(tmp_path: Path, problem: str) -> None:
    lay = Layout(tmp_path)
    if problem == "no-manifest":
        done = lay.run("0009")
        assert "cannot read the manifest of shard 0009" in done.stderr
    else:
        lay.add(["in/a.jpg"])
        lay.result("in/a.jpg").mkdir(parents=True)  # a folder where the result file must go
        done = lay.run()
        assert "cannot write the result" in done.stderr
    assert done.returncode == 1


def test_waits_for_mounts_and_gives_up_clearly(tmp_path: Path) -> None:
    lay = Layout(tmp_path, extra="worker: {mount_wait: 1}\n")
    lay.runner.write_text(runner.render([str(tmp_path / "never mounted")]))
    lay.add(["in/a.jpg"])
    done = lay.run()
    assert done.returncode == 1
    assert "never\\040mounted did not appear within 1s" in done.stderr
