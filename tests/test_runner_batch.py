"""worker.invoke batch and range: one invocation per batch, per-file results, bisection."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_runner import Layout, fields

# A batch service in the README's contract: INPUT_FILE_LIST holds <input> TAB <output folder>
# lines (split on the last tab: keys may hold tabs). It appends each invocation's inputs to
# @CALLS@, crashes on a file named *poison* (before any status line when @STATUS@ is off) and
# marks *corrupt* files failed in the status file.
BATCH = r"""#!/bin/sh
TAB=$(printf '\t')
{ echo call; cut -f1 "$INPUT_FILE_LIST"; } >>@CALLS@
while IFS= read -r line; do
  input=${line%"$TAB"*}
  out=${line##*"$TAB"}
  case ${input##*/} in
    *poison*) echo "crashed on $input" >&2; exit 9 ;;
    *corrupt*) printf '%s\tfail\tcorrupt\n' "$input" >>"$OSCAR_BATCH_STATUS_FILE"; continue ;;
  esac
  wc -c <"$input" >"$out/size.txt"
  [ @STATUS@ = on ] && printf '%s\tok\n' "$input" >>"$OSCAR_BATCH_STATUS_FILE"
  sleep @SLEEP@
done <"$INPUT_FILE_LIST"
"""


def batch_layout(
    tmp_path: Path, size: int, *, status: bool = False, sleep: float = 0, invoke: str = "batch"
) -> tuple[Layout, Path]:
    calls = tmp_path / "calls.log"
    script = (
        BATCH.replace("@CALLS@", str(calls))
        .replace("@STATUS@", "on" if status else "off")
        .replace("@SLEEP@", str(sleep))
    )
    worker = f"file_timeout: 5, invoke: {invoke}, batch_size: {size}"
    return Layout(tmp_path, script=script, worker=worker), calls


def invocations(calls: Path) -> list[list[str]]:
    if not calls.exists():
        return []
    chunks = calls.read_text().split("call\n")[1:]
    return [[Path(p).name for p in chunk.splitlines()] for chunk in chunks]


def statuses(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {
        line.split(" ")[3].removeprefix("in/"): line.split(" ")[0]
        for line in done.stdout.splitlines()
        if line.startswith(("ok ", "fail "))
    }


def test_one_invocation_per_batch_and_a_result_per_file(tmp_path: Path) -> None:
    lay, calls = batch_layout(tmp_path, 4)
    keys = [f"in/f{i:02d}.jpg" for i in range(10)]
    lay.add(keys)
    done = lay.run()
    assert done.returncode == 0, done.stderr
    assert [len(c) for c in invocations(calls)] == [4, 4, 2]
    ids = set()
    for key in keys:
        result = fields(lay.result(key))
        assert result["outputs"] == "1"
        ids.add(result["invocation"])
        size = (lay.run_dir / "outputs" / key.removeprefix("in/") / "size.txt").read_text()
        assert size.strip() == str(len(key))
    assert len(ids) == 3
    assert (lay.work / "progress").read_text() == "10/10\n"
    assert "(batch mode, 3 invocations)" in done.stderr


@pytest.mark.parametrize("where", [0, 5, 13, 31])
def test_a_poison_file_fails_alone_at_a_bounded_cost(tmp_path: Path, where: int) -> None:
    size = 32
    lay, calls = batch_layout(tmp_path, size)
    keys = [f"in/f{i:02d}.jpg" for i in range(size)]
    keys[where] = "in/poison.jpg"
    lay.add(keys)
    done = lay.run()
    assert done.returncode == 0, done.stderr
    assert statuses(done) == {
        k.removeprefix("in/"): "fail" if "poison" in k else "ok" for k in keys
    }
    poison = fields(lay.result("in/poison.jpg", "fail"))
    assert poison["exit_code"] == "9" and poison["reason"] == "failed"
    assert lay.result("in/poison.jpg", "fail").read_text().rstrip().endswith("poison.jpg")
    extra = len(invocations(calls)) - 1
    assert extra <= math.ceil(math.log2(size)) + 1
    assert not (lay.run_dir / "outputs" / "poison.jpg").exists()


def test_two_poison_files_and_verdicts_from_the_status_file(tmp_path: Path) -> None:
    lay, calls = batch_layout(tmp_path, 8, status=True)
    keys = [f"in/f{i}.jpg" for i in range(8)]
    keys[0], keys[2], keys[6] = "in/corrupt.jpg", "in/poison-1.jpg", "in/poison-2.jpg"
    lay.add(keys)
    done = lay.run()
    assert done.returncode == 0, done.stderr
    expected = {k.removeprefix("in/"): "ok" for k in keys}
    expected.update({"poison-1.jpg": "fail", "poison-2.jpg": "fail", "corrupt.jpg": "fail"})
    assert statuses(done) == expected
    assert fields(lay.result("in/corrupt.jpg", "fail"))["reason"] == "corrupt"
    runs = [name for call in invocations(calls) for name in call]
    # marked before the first crash: never run again
    assert runs.count("f1.jpg") == 1 and runs.count("corrupt.jpg") == 1


def test_a_kill_mid_batch_then_a_rerun_completes_every_file_once(tmp_path: Path) -> None:
    lay, calls = batch_layout(tmp_path, 3, sleep=0.2)
    keys = [f"in/f{i:02d}.jpg" for i in range(12)]
    lay.add(keys)
    proc = subprocess.Popen(
        ["sh", str(lay.runner)], env=lay.env(), cwd=lay.work, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(list((lay.run_dir / "results" / "0000").glob("*.ok"))) < 3:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    recorded = {k.removeprefix("in/") for k in keys if lay.result(k).exists()}
    assert 3 <= len(recorded) < len(keys)
    before = len(invocations(calls))
    done = lay.run()
    assert done.returncode == 0, done.stderr
    assert all(lay.result(k).exists() for k in keys)
    again = {name for call in invocations(calls)[before:] for name in call}
    assert not again & recorded
    assert again | recorded == {k.removeprefix("in/") for k in keys}
