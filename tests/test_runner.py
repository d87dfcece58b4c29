"""The worker runner script, run with sh on a plain folder laid out like the mount (no FUSE needed)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from generator.bucket import claims, layout, results
from generator.bucket.reader import FolderStore
from generator.build import runner_script as runner
from generator.build import workerpod
from generator.spec import model as spec
from tests import worker
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
    def __init__(
        self, tmp_path: Path, script: str = ECHO, worker: str = "file_timeout: 2", extra: str = ""
    ) -> None:
        text = (
            "name: t\nservice: {name: s, image: alpine, script: script.sh, env: {MODEL: v3}}\n"
            f"input: {{bucket: data, prefix: in/}}\nworker: {{{worker}}}\n{extra}"
        )
        self.spec = spec.load(write_spec(tmp_path / "spec", text, script))
        self.mnt = tmp_path / "mnt"
        self.work = tmp_path / "work"
        self.work.mkdir()
        self.data = self.mnt / "data"
        self.run_dir = self.data / "oscar-batch" / "r1"
        (self.run_dir / "shards").mkdir(parents=True)
        # the runner writes through a read-write mount of the run's folder (workerpod.mounts)
        (self.mnt / workerpod.WRITE_ROOT).mkdir()
        (self.mnt / workerpod.WRITE_ROOT / "data").symlink_to(self.run_dir)
        self.script = tmp_path / "script.sh"
        self.script.write_text(self.spec.service.script)
        self.runner = tmp_path / "runner.sh"
        self.runner.write_text(runner.render([]))

    def add(self, keys: list[str], shard: str = "0000", data: bytes | None = None) -> None:
        lines = []
        for key in keys:
            path = self.data / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(key.encode() if data is None else data)
            lines.append(layout.manifest_line(key, key.removeprefix("in/")))
        (self.run_dir / "shards" / f"{shard}.tsv").write_text("".join(lines))
        self.replan()

    def replan(self) -> None:
        """What a plan writes beside the manifests: units.tsv and each unit's claim record,
        free (a new plan of a run: a unit finished by the previous one is taken again)."""
        files = {
            p.stem: len(p.read_text().splitlines())
            for p in sorted((self.run_dir / "shards").glob("*.tsv"))
        }
        worker = self.spec.worker
        size = claims.unit_size(worker.invoke, worker.batch_size, sum(files.values()), len(files))
        units = {sid: claims.count(n, size) for sid, n in files.items()}
        where = layout.RunLayout("data", "oscar-batch/r1/")
        for key, body in claims.objects(where, units.items(), size):
            (self.data / key).parent.mkdir(parents=True, exist_ok=True)
            (self.data / key).write_bytes(body)

    def env(self, shard: str = "0000") -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            **runner.environment(
                self.spec, mnt_root=str(self.mnt), run="r1", shard=shard, script=str(self.script)
            ),
            "ARGO_PROGRESS_FILE": str(self.work / "progress"),
            "TMPDIR": str(self.work),
            "OSCAR_BATCH_IDENTITY": "ident-1",
        }

    def run(self, shard: str = "0000", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return worker.run(self.spec, self.runner, self.env(shard), cwd=cwd or self.work)

    def result(self, key: str) -> results.Record | None:
        """The file's latest result, read as the aggregate reads it (None: no result)."""
        where = layout.RunLayout("data", "oscar-batch/r1/")
        with results.load(FolderStore(self.data), where) as found:
            got = found.get(layout.file_id(key))
        return None if got is None else got[1]

    def status(self, key: str) -> str | None:
        got = self.result(key)
        return None if got is None else "ok" if got.ok else "fail"


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
        # MinIO URL-encodes the key as Go's url.QueryEscape; the supervisor unquote_plus-es it
        record = event["Records"][0]
        assert record["s3"]["object"]["key"] == urllib.parse.quote_plus(key)
        assert record["eventSource"] == "minio:s3" and record["s3"]["bucket"]["name"] == "data"
        assert event["Key"] == f"data/{key}"
        model, tmp_input, job = (out / "env.txt").read_text().split("|")
        assert model == "v3" and lay.data not in Path(tmp_input).parents
        assert job.startswith("s-")  # OSCAR's JOB_UUID: <service>-<uuid>
        result = lay.result(key)
        assert result is not None and result.ok
        assert result.exit_code == 0 and result.outputs == 4
        assert result.invocation == job and result.identity == "ident-1"
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
    failed = lay.result("in/fail-me.jpg")
    assert failed is not None and not failed.ok
    assert failed.exit_code == 3 and failed.reason == "failed"
    assert failed.error.endswith("/fail-me.jpg") and "cannot process" in failed.error
    hung = lay.result("in/hang.jpg")
    assert hung is not None and hung.reason == "timeout"
    assert not (lay.run_dir / "outputs" / "fail-me.jpg").exists()


# b.jpg's script kills the dispatcher that runs it (its parent), c.jpg's answers for it
# with a payload bash's arithmetic would run (the runner must check before computing)
KILLER = r"""#!/bin/sh
cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"
case ${INPUT_FILE_PATH##*/} in
  b.jpg) kill -9 "$PPID" ;;
  c.jpg)
    k=${TMP_OUTPUT_DIR%/out}
    printf '%s 0 a[$(touch %s)] failed\n' "${k##*/}" "$PWNED" >"$OSCAR_BATCH_CTL/status"
    sleep 5
    ;;
esac
"""


@pytest.mark.parametrize(
    ("killed", "said"), [("b.jpg", "stopped:"), ("c.jpg", "stopped (it answered a[$(touch")]
)
def test_a_script_that_kills_or_answers_for_its_dispatcher_stops_the_pod(
    tmp_path: Path, killed: str, said: str
) -> None:
    lay = Layout(tmp_path, script=KILLER, worker="batch_size: 1")
    keys = ["in/a.jpg", f"in/{killed}"]
    lay.add(keys)
    pwned = tmp_path / "pwned"
    done = worker.run(lay.spec, lay.runner, {**lay.env(), "PWNED": str(pwned)}, cwd=lay.work)
    assert done.returncode == 1
    assert f"the service container {said}" in done.stderr
    assert "stopping so the pod is retried" in done.stderr
    assert lay.status("in/a.jpg") == "ok" and lay.status(f"in/{killed}") is None
    assert not pwned.exists()


# hang.jpg leaves a child and hangs; stubborn.jpg ignores TERM (so do its children)
HANGS = r"""#!/bin/sh
case ${INPUT_FILE_PATH##*/} in
  hang.jpg) sleep 300 & echo $! >"$PIDS/hang"; sleep 300 ;;
  stubborn.jpg) trap '' TERM; sleep 300 & echo $! >"$PIDS/stubborn"; while :; do sleep 1; done ;;
esac
: >"$TMP_OUTPUT_DIR/done"
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_a_timed_out_file_is_stopped_with_every_process_it_started(tmp_path: Path) -> None:
    """As `timeout -k 10` did: TERM at the limit (exit code 124), KILL 10 s later for what
    ignores it (137); the processes the script started end with it; the shard goes on."""
    lay = Layout(tmp_path, script=HANGS, worker="file_timeout: 1")
    lay.add(["in/a.jpg", "in/hang.jpg", "in/stubborn.jpg", "in/b.jpg"])
    pids = tmp_path / "pids"
    pids.mkdir()
    done = worker.run(lay.spec, lay.runner, {**lay.env(), "PIDS": str(pids)}, cwd=lay.work)
    assert done.returncode == 0, done.stderr
    assert lay.status("in/a.jpg") == "ok" and lay.status("in/b.jpg") == "ok"
    hung, stubborn = lay.result("in/hang.jpg"), lay.result("in/stubborn.jpg")
    assert hung is not None and (hung.reason, hung.exit_code) == ("timeout", 124)
    assert 1 <= hung.seconds < 3
    assert stubborn is not None and (stubborn.reason, stubborn.exit_code) == ("timeout", 137)
    assert 11 <= stubborn.seconds < 14
    for name in ("hang", "stubborn"):
        assert _gone(int((pids / name).read_text()))


def test_a_late_alarm_between_jobs_leaves_the_dispatcher_waiting(tmp_path: Path) -> None:
    """The watchdog's ALRM may land after its job ended, while the dispatcher waits for the
    next job: a caught signal would end that `read`, and the loop over the jobs with it."""
    lay = Layout(tmp_path)
    keys = [f"in/{i}.jpg" for i in range(20)]
    lay.add(keys)
    pod = worker.start(
        lay.spec, lay.runner, lay.env(), cwd=lay.work, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    status = Path(f"/proc/{pod.service.pid}/status")
    alrm = 1 << (signal.SIGALRM - 1)
    # from the moment ALRM is handled (ignored or caught) until the pod ends: during jobs and
    # between them
    while pod.poll() is None:
        masks = re.findall(r"Sig(?:Ign|Cgt):\s*(\w+)", status.read_text())
        if any(int(mask, 16) & alrm for mask in masks):
            os.kill(pod.service.pid, signal.SIGALRM)
        time.sleep(0.002)
    _, err = pod.communicate(timeout=60)
    assert pod.returncode == 0, err
    assert [lay.status(key) for key in keys] == ["ok"] * len(keys)


def test_rerun_skips_what_succeeded_and_retries_what_failed(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    lay.add(["in/a.jpg", "in/fail-once.jpg"])
    lay.run()
    assert lay.status("in/fail-once.jpg") == "fail"
    lay.script.write_text(ECHO.replace("*fail*)", "*never*)"))
    lay.replan()
    done = lay.run()
    assert [line.split(" ")[0] for line in done.stdout.splitlines()] == ["skip", "ok"]
    assert lay.status("in/fail-once.jpg") == "ok"


def test_a_rerun_skips_only_the_successes_of_complete_result_objects(tmp_path: Path) -> None:
    """A pod killed while sha256sum wrote its object's hashes leaves the records and their
    `end` line without the hashes' last line: its files are done again. An object of result
    format 2 (the runner before format 3) is complete with its `end` line."""
    lay = Layout(tmp_path)
    lay.add(["in/a.jpg", "in/b.jpg", "in/c.jpg"])
    ok = results.Record(
        layout.file_id("in/a.jpg"), True, 0, 0.1, 1, "s-1", hashes=(("c", "0" * 64),)
    )
    cut = results.encode("0000", "", [ok])
    assert cut.endswith(results.HASHED_END)
    folder = lay.run_dir / "results" / "0000"
    folder.mkdir(parents=True)
    (folder / "x-000001.results").write_bytes(cut[: -len(results.HASHED_END)])
    b = layout.file_id("in/b.jpg")
    (folder / "y-000001.results").write_text(
        f"oscar-batch-results 2 0000 -\nok {b} 0 0.1 0 s-1\nend 1\n"
    )
    done = lay.run()
    assert done.returncode == 0, done.stderr
    assert sorted(line.split(" ")[0] for line in done.stdout.splitlines()) == ["ok", "ok", "skip"]
    assert "in/b.jpg" in next(line for line in done.stdout.splitlines() if line.startswith("skip"))
    assert [lay.status(k) for k in ("in/a.jpg", "in/b.jpg", "in/c.jpg")] == ["ok"] * 3


def test_skip_existing_off_processes_again(tmp_path: Path) -> None:
    lay = Layout(tmp_path, worker="file_timeout: 2, skip_existing: false")
    lay.add(["in/a.jpg"])
    lay.run()
    lay.replan()
    assert [line.split(" ")[0] for line in lay.run().stdout.splitlines()] == ["ok"]


def test_file_mode_runs_every_script_as_oscar_does(tmp_path: Path) -> None:
    """`/bin/sh SCRIPT` whatever the first line says (faas-supervisor execute_function)."""
    lay = Layout(tmp_path, script='echo "$0" > "$TMP_OUTPUT_DIR/how"\n')
    lay.add(["in/a.jpg"])
    assert lay.run().returncode == 0
    assert (lay.run_dir / "outputs" / "a.jpg" / "how").read_text().strip().endswith("script.sh")
    bash = Layout(
        tmp_path / "b", script='#!/bin/bash\necho "${BASH_VERSION:-none}" > "$TMP_OUTPUT_DIR/how"\n'
    )
    bash.add(["in/a.jpg"])
    assert bash.run().returncode == 0
    assert (bash.run_dir / "outputs" / "a.jpg" / "how").read_text().strip() == "none"


def test_a_service_that_writes_nothing_succeeds_with_no_outputs(tmp_path: Path) -> None:
    lay = Layout(tmp_path, script="true\n")
    lay.add(["in/a.jpg"])
    assert lay.run().returncode == 0
    result = lay.result("in/a.jpg")
    assert result is not None and result.ok and result.outputs == 0 and result.hashes == ()
    assert not (lay.run_dir / "outputs").exists()


@pytest.mark.parametrize("batch_size", [1, 2])  # each file committed alone; both together
def test_each_outputs_sha256_is_recorded_flat_or_nested(tmp_path: Path, batch_size: int) -> None:
    """What `compare` reads: every stored output's sha256, whether the group's output folders
    are flat (hashed as listed) or one holds a folder (hashed by a recursive walk)."""
    script = """printf 'plain' > "$TMP_OUTPUT_DIR/plain.txt"
printf 'hidden' > "$TMP_OUTPUT_DIR/.hidden"
printf 'odd' > "$TMP_OUTPUT_DIR/with space \\ and
line"
case $INPUT_FILE_PATH in *b.jpg) mkdir "$TMP_OUTPUT_DIR/sub"; printf 'deep' > "$TMP_OUTPUT_DIR/sub/..x" ;; esac
"""
    lay = Layout(tmp_path, script=script, worker=f"file_timeout: 5, batch_size: {batch_size}")
    lay.add(["in/a.jpg", "in/b.jpg"])
    assert lay.run().returncode == 0
    for key in ("in/a.jpg", "in/b.jpg"):
        result = lay.result(key)
        folder = lay.run_dir / "outputs" / key.removeprefix("in/")
        stored = sorted(
            (f.relative_to(folder).as_posix(), hashlib.sha256(f.read_bytes()).hexdigest())
            for f in folder.rglob("*")
            if f.is_file()
        )
        assert len(stored) == (4 if key.endswith("b.jpg") else 3)
        assert result is not None and result.ok and result.hashes == tuple(stored)


@pytest.mark.parametrize("problem", ["no-manifest", "unwritable-result"])
def test_storage_failures_exit_non_zero_for_argo_to_retry(tmp_path: Path, problem: str) -> None:
    lay = Layout(tmp_path)
    if problem == "no-manifest":
        done = lay.run("0009")
        assert "cannot read the plan's" in done.stderr
    else:
        lay.add(["in/a.jpg"])
        # a results folder where no file can be created
        (lay.run_dir / "results").mkdir()
        (lay.run_dir / "results" / "0000").symlink_to("/proc")
        done = lay.run()
        assert "cannot write the results of shard 0000" in done.stderr
    assert done.returncode == 1


def test_waits_for_mounts_and_gives_up_clearly(tmp_path: Path) -> None:
    lay = Layout(tmp_path, worker="mount_wait: 1")
    lay.runner.write_text(runner.render([str(tmp_path / "never mounted")]))
    lay.add(["in/a.jpg"])
    done = lay.run()
    assert done.returncode == 1
    assert "never\\040mounted did not appear within 1s" in done.stderr


# OSCAR's fish-detector pattern (grycap/oscar examples/fish-detector/script.sh): a helper
# program relative to the image's WORKDIR, output written next to the input, then moved.
FISH_SCRIPT = """#!/bin/sh
python3 fish_detector.py -i "$INPUT_FILE_PATH"
mv "$INPUT_FILE_PATH.fish.txt" "$TMP_OUTPUT_DIR/"
ls -A "$TMP_INPUT_DIR" > "$TMP_OUTPUT_DIR/tmp_input.txt"
rm "$INPUT_FILE_PATH"
"""
FISH_DETECTOR = """import sys
path = sys.argv[2]
with open(path, "rb") as image, open(path + ".fish.txt", "w") as out:
    out.write(f"{len(image.read())} bytes, 1 fish\\n")
"""


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_script_runs_in_the_workdir_with_a_private_input_folder(tmp_path: Path) -> None:
    lay = Layout(tmp_path, script=FISH_SCRIPT)
    app = tmp_path / "app"  # the image's WORKDIR
    app.mkdir()
    (app / "fish_detector.py").write_text(FISH_DETECTOR)
    keys = ["in/a.jpg", "in/sub/b.jpg", "in/sub/c.jpg"]
    lay.add(keys)
    inputs = snapshot(lay.data / "in")
    done = lay.run(cwd=app)
    assert done.returncode == 0, done.stderr
    assert snapshot(lay.data / "in") == inputs  # nothing written or removed in the bucket
    for key in keys:
        out = lay.run_dir / "outputs" / key.removeprefix("in/")
        name = key.rsplit("/", 1)[1]
        assert (out / f"{name}.fish.txt").read_text() == f"{len(key)} bytes, 1 fish\n"
        # fresh per file: only this file, named as OSCAR names the download
        assert (out / "tmp_input.txt").read_text() == f"{name}\n"
    assert sorted(p.name for p in app.iterdir()) == ["fish_detector.py"]


def test_an_output_that_cannot_be_stored_fails_only_its_file(tmp_path: Path) -> None:
    script = """#!/bin/sh
case $INPUT_FILE_PATH in
  *fifo*) mkfifo "$TMP_OUTPUT_DIR/pipe" ;;
  *long*) printf x > "$TMP_OUTPUT_DIR/$(printf '%0200d' 0)" ;;
  *) echo fine > "$TMP_OUTPUT_DIR/out.txt" ;;
esac
"""
    lay = Layout(tmp_path, script=script)
    deep = "/".join(["d" * 200] * 4)  # S3 allows this input key, not its output key
    keys = ["in/a.jpg", "in/fifo.jpg", f"in/{deep}/long.jpg", "in/b.jpg"]
    lay.add(keys)
    done = lay.run()
    assert done.returncode == 0, done.stderr
    assert [line.split(" ")[0] for line in done.stdout.splitlines() if line[0] != " "] == [
        "ok", "fail", "fail", "ok",
    ]  # fmt: skip
    fifo = lay.result("in/fifo.jpg")
    assert fifo is not None and fifo.reason == "output"
    assert fifo.detail == "not a regular file: pipe"
    long = lay.result(f"in/{deep}/long.jpg")
    assert long is not None and long.reason == "output"
    assert long.detail.startswith("output key over 1024 bytes")
    assert not (lay.run_dir / "outputs" / "fifo.jpg").exists()
    assert (lay.run_dir / "outputs" / "b.jpg" / "out.txt").read_text() == "fine\n"


def test_the_latest_result_wins(tmp_path: Path) -> None:
    lay = Layout(tmp_path, worker="file_timeout: 2, skip_existing: false")
    lay.add(["in/a.jpg", "in/b.jpg"])
    assert lay.run().returncode == 0
    assert (lay.run_dir / "outputs" / "a.jpg" / "key.txt").exists()
    lay.script.write_text(ECHO.replace("*fail*)", "*a.jpg)"))
    lay.replan()
    assert lay.run().returncode == 0
    assert lay.status("in/a.jpg") == "fail"
    assert not (lay.run_dir / "outputs" / "a.jpg").exists()  # stale outputs removed
    assert lay.status("in/b.jpg") == "ok"


def test_a_retried_attempt_reports_the_progress_of_its_own_files(tmp_path: Path) -> None:
    # Argo sums the progress of every attempt (workflow/progress/updater.go)
    lay = Layout(tmp_path)
    lay.add(["in/a.jpg", "in/b.jpg", "in/fail-c.jpg"])
    lay.run()
    assert (lay.work / "progress").read_text() == "3/3\n"
    lay.script.write_text(ECHO.replace("*fail*)", "*never*)"))
    lay.replan()
    lay.run()
    assert (lay.work / "progress").read_text() == "1/1\n"
