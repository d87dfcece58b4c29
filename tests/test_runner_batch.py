"""worker.invoke batch and range: one invocation per batch, per-file results, bisection."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from generator.errors import SpecError
from tests import worker
from tests.test_runner import KEYS, Layout

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
        result = lay.result(key)
        assert result is not None and result.outputs == 1
        ids.add(result.invocation)
        size = (lay.run_dir / "outputs" / key.removeprefix("in/") / "size.txt").read_text()
        assert size.strip() == str(len(key))
    assert len(ids) == 3
    assert (lay.work / "progress").read_text() == "10/10\n"
    assert "(batch mode, 3 invocations)" in done.stderr


@pytest.mark.parametrize("where", [[0], [13], [31], [3, 20]])
def test_poison_files_fail_alone_at_a_bounded_cost(tmp_path: Path, where: list[int]) -> None:
    size = 32
    lay, calls = batch_layout(tmp_path, size)
    keys = [f"in/f{i:02d}.jpg" for i in range(size)]
    for n, i in enumerate(where):
        keys[i] = f"in/poison-{n}.jpg"
    lay.add(keys)
    done = lay.run()
    assert done.returncode == 0, done.stderr
    expected = {k.removeprefix("in/"): "fail" if "poison" in k else "ok" for k in keys}
    assert statuses(done) == expected
    poison = lay.result("in/poison-0.jpg")
    assert poison is not None and poison.exit_code == 9 and poison.reason == "failed"
    assert poison.error.endswith("poison-0.jpg")
    extra = len(invocations(calls)) - 1
    assert extra <= len(where) * (math.ceil(math.log2(size)) + 1)
    assert not (lay.run_dir / "outputs" / "poison-0.jpg").exists()


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
    corrupt = lay.result("in/corrupt.jpg")
    assert corrupt is not None and corrupt.reason == "corrupt"
    runs = [name for call in invocations(calls) for name in call]
    # marked before the first crash: never run again
    assert runs.count("f1.jpg") == 1 and runs.count("corrupt.jpg") == 1


def test_a_kill_mid_batch_then_a_rerun_completes_every_file_once(tmp_path: Path) -> None:
    lay, calls = batch_layout(tmp_path, 3, sleep=0.2)
    keys = [f"in/f{i:02d}.jpg" for i in range(12)]
    lay.add(keys)
    proc = worker.start(
        lay.spec, lay.runner, lay.env(), cwd=lay.work,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while sum(lay.status(k) == "ok" for k in keys) < 3:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    recorded = {k.removeprefix("in/") for k in keys if lay.status(k) == "ok"}
    assert 3 <= len(recorded) < len(keys)
    before = len(invocations(calls))
    done = lay.run()
    assert done.returncode == 0, done.stderr
    assert all(lay.status(k) == "ok" for k in keys)
    again = {name for call in invocations(calls)[before:] for name in call}
    assert not again & recorded
    assert again | recorded == {k.removeprefix("in/") for k in keys}


# grycap/oscar-batch examples/obsea-fish-detector/script.sh, as published.
ORIGINAL_SCRIPT = """#!/bin/sh

JSON=$(cat "$INPUT_FILE_PATH")
echo $JSON

START=$(echo "$JSON" | jq '.start')
END=$(echo "$JSON" | jq '.end')

python3 fish_detector.py -i "$BUCKET_DIR/input/index.txt" -d "$BUCKET_DIR" --start "$START" --end "$END" -o "$BUCKET_DIR/output"
"""
# The one line changed for oscar-batch: our index, absolute paths, outputs to TMP_OUTPUT_DIR.
CHANGED_LINE = (
    'python3 fish_detector.py -i "$OSCAR_BATCH_INDEX" -d / --start "$START" --end "$END"'
    ' -o "$TMP_OUTPUT_DIR"'
)
# A program written for the original payload: lines of the index count from 1, start <= line < end.
ORIGINAL_PROGRAM = """import argparse, os, sys
p = argparse.ArgumentParser()
for flag in ("-i", "-d", "--start", "--end", "-o"):
    p.add_argument(flag)
a = p.parse_args()
lines = open(a.i).read().splitlines()
for number in range(int(a.start), int(a.end)):
    image = os.path.join(a.d, lines[number - 1])
    name = os.path.basename(image)
    if "poison" in name:
        sys.exit("cannot decode " + name)
    with open(os.path.join(a.o, name + ".fish.txt"), "w") as out:
        out.write(f"{os.path.getsize(image)} bytes\\n")
with open(os.environ["CALLS"], "a") as calls:
    calls.write("call\\n" + "".join(line + "\\n" for line in lines[int(a.start) - 1 : int(a.end) - 1]))
"""


def test_range_mode_runs_a_script_written_for_the_original_payload(tmp_path: Path) -> None:
    script = ORIGINAL_SCRIPT.replace(ORIGINAL_SCRIPT.splitlines()[-1], CHANGED_LINE)
    pairs = zip(ORIGINAL_SCRIPT.splitlines(), script.splitlines(), strict=True)
    assert len([a for a, b in pairs if a != b]) == 1
    calls = tmp_path / "calls.log"
    lay = Layout(
        tmp_path,
        script=script,
        worker="file_timeout: 5, invoke: range, batch_size: 3",
        extra="",
    )
    app = tmp_path / "app"
    app.mkdir()
    (app / "fish_detector.py").write_text(ORIGINAL_PROGRAM)
    keys = [f"in/img{i}.jpg" for i in range(7)]
    keys[4] = "in/poison.jpg"
    lay.add(keys)
    env = {**lay.env(), "CALLS": str(calls)}
    done = worker.run(lay.spec, lay.runner, env, cwd=app)
    assert done.returncode == 0, done.stderr
    assert statuses(done) == {
        k.removeprefix("in/"): "fail" if "poison" in k else "ok" for k in keys
    }
    poison = lay.result("in/poison.jpg")
    assert poison is not None and "cannot decode poison.jpg" in poison.error
    for key in keys:
        if "poison" not in key:
            name = key.removeprefix("in/")
            text = (lay.run_dir / "outputs" / f"{name}.fish.txt").read_text()
            assert text == f"{len(key)} bytes\n"
            result = lay.result(key)
            assert result is not None and (result.outputs or 0) >= 1
    # batches [0-2] and [3-5] ... the passing ranges each ran once
    ran = [Path(p).name for p in calls.read_text().split() if p != "call"]
    assert sorted(ran) == sorted(k.removeprefix("in/") for k in keys if "poison" not in k)


def test_a_batch_timeout_scales_with_its_files_and_isolates_the_hung_file(tmp_path: Path) -> None:
    script = BATCH.replace("@CALLS@", str(tmp_path / "calls.log")).replace("@STATUS@", "off")
    script = script.replace(
        "sleep @SLEEP@", "case $input in *hang*) sleep 30 ;; *) sleep 0.6 ;; esac"
    )
    lay = Layout(tmp_path, script=script, worker="file_timeout: 1, invoke: batch, batch_size: 3")
    lay.add(["in/a.jpg", "in/hang.jpg", "in/b.jpg"])
    done = lay.run()  # a and b take 0.6 s each, within 1 s x their batch's files
    assert done.returncode == 0, done.stderr
    assert statuses(done) == {"a.jpg": "ok", "hang.jpg": "fail", "b.jpg": "ok"}
    hung = lay.result("in/hang.jpg")
    assert hung is not None and hung.reason == "timeout" and hung.exit_code in (124, 143)


def test_the_readme_batch_example_is_python() -> None:
    readme = (Path(__file__).parent.parent / "docs" / "worker-contract.md").read_text()
    contract = readme.split("# The worker contract", 1)[1]
    example = contract.split("```python\n", 1)[1].split("```", 1)[0]
    assert "INPUT_FILE_LIST" in example and "OSCAR_BATCH_STATUS_FILE" in example
    compile(example, "README example", "exec")


@pytest.mark.parametrize(
    ("worker", "message"),
    [
        ("invoke: batches", "worker.invoke"),
        ("invoke: batch, batch_size: 0", "worker.batch_size"),
        ("invoke: batch, batch_size: 100000", "worker.batch_size"),
    ],
)
def test_invoke_and_batch_size_are_validated(tmp_path: Path, worker: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        Layout(tmp_path, worker=worker)


def test_hostile_keys_in_a_batch_and_its_status_file(tmp_path: Path) -> None:
    lay, calls = batch_layout(tmp_path, 4, status=True)
    # every file marked ok, then the invocation fails: the verdicts come from the status file
    lay.script.write_text(lay.script.read_text() + "exit 5\n")
    lay.add(KEYS)
    done = lay.run()
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("pwned*"))
    for key in KEYS:
        result = lay.result(key)
        assert result is not None and result.outputs == 1
        out = lay.run_dir / "outputs" / key.removeprefix("in/") / "size.txt"
        assert out.read_text().strip() == str(len(key.encode()))
    assert len(invocations(calls)) == math.ceil(len(KEYS) / 4)  # no file ran twice
