"""What a service script gets and what is stored, as under OSCAR (issue 22), through `run --local`.

One run of an FDL service with two outputs (each with its name filters, as OSCAR's
supervisor applies them), in `output.layout: oscar` with `worker.exit_code: ignore`; the
script does something different per input file, and each test checks one behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from generator.bucket import layout, results
from generator.bucket.reader import FolderStore
from generator.cli import app
from tests.conftest import requires_fuse

pytestmark = [requires_fuse]

FDL = """functions:
  oscar:
  - oscar-cluster:
      name: behaviour
      image: ubuntu:22.04
      cpu: '0.5'
      memory: 256Mi
      script: script.sh
      input:
      - storage_provider: minio.default
        path: bhv/input
      output:
      - storage_provider: minio.default
        path: bhv/output
      - storage_provider: minio.default
        path: bhv/texts/kept
        prefix: [keep, sub/]
        suffix: [.txt]
"""
# A bash script, as 36 of 53 published ones are: OSCAR runs it with /bin/sh all the same.
SCRIPT = r"""#!/bin/bash
name=$(basename "$INPUT_FILE_PATH")
case $name in
  echo.in)
    echo "a\nb" > "$TMP_OUTPUT_DIR/echo.txt"
    if [[ -n "$name" ]]; then echo bash > "$TMP_OUTPUT_DIR/shell.txt"; fi
    ;;
  append.in)
    test -f "$INPUT_FILE_PATH" && ! test -L "$INPUT_FILE_PATH" && echo regular > "$TMP_OUTPUT_DIR/keep-kind.txt"
    echo more >> "$INPUT_FILE_PATH"
    mv "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/"
    ;;
  nested.in)
    mkdir -p "$TMP_OUTPUT_DIR/sub/deeper" "$TMP_OUTPUT_DIR/empty"
    echo one > "$TMP_OUTPUT_DIR/sub/one.txt"
    echo two > "$TMP_OUTPUT_DIR/sub/deeper/two.bin"
    ;;
  hollow.in)
    mkdir "$TMP_OUTPUT_DIR/empty"
    ;;
  exit.in)
    echo partial > "$TMP_OUTPUT_DIR/keep-partial.txt"
    exit 3
    ;;
  zero.in)
    printf '%s' "$0" > "$TMP_OUTPUT_DIR/zero"
    ;;
  hang.in)
    # an orphan (its parent ends at once) beating in /tmp, then a hang past file_timeout
    ( (while :; do date +%s%N > /tmp/beat; sleep 0.1; done) & )
    sleep 300
    ;;
  later.in)
    # the next file: is hang.in's orphan still beating?
    a=$(cat /tmp/beat); sleep 1; b=$(cat /tmp/beat)
    if [ "$a" = "$b" ]; then echo stopped; else echo beating; fi > "$TMP_OUTPUT_DIR/orphan"
    ;;
esac
"""
INPUTS = ("echo.in", "append.in", "nested.in", "hollow.in", "exit.in", "zero.in", "hang.in")
INPUTS += ("later.in",)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("behaviour")
    (root / "f.yaml").write_text(FDL)
    (root / "script.sh").write_text(SCRIPT)
    (root / "batch.yaml").write_text(
        "name: behaviour\nservice: {fdl: f.yaml}\n"
        "output: {layout: oscar}\nworker: {exit_code: ignore, file_timeout: 2}\n"
        "planning: {max_workers: 1}\nfailure: {max_failed_ratio: 0.2}\n"
    )
    data = root / "data"
    for name in INPUTS:
        (data / "bhv" / "input").mkdir(parents=True, exist_ok=True)
        (data / "bhv" / "input" / name).write_bytes(b"input " + name.encode() + b"\n")
    result = CliRunner().invoke(
        app, ["run", str(root / "batch.yaml"), "--local", "--data-dir", str(data), "-o", "json"]
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    return data / "bhv", json.loads(result.stdout)


def _result(bucket: Path, name: str) -> results.Record:
    """An input's latest result, read as the aggregate reads it."""
    (run,) = (bucket / "oscar-batch").iterdir()
    where = layout.RunLayout(bucket.name, f"oscar-batch/{run.name}/")
    with results.load(FolderStore(bucket), where) as found:
        got = found.get(layout.file_id("input/" + name))
    assert got is not None
    return got[1]


def test_bash_script_runs_with_bin_sh_as_oscar_runs_it(ran: tuple[Path, Any]) -> None:
    bucket, _ = ran
    assert (bucket / "output" / "echo.txt").read_bytes() == b"a\nb\n"  # dash's echo
    assert not (bucket / "output" / "shell.txt").exists()  # `[[` is not sh


def test_input_is_a_regular_writable_copy(ran: tuple[Path, Any]) -> None:
    bucket, _ = ran
    assert (bucket / "output" / "append.in").read_bytes() == b"input append.in\nmore\n"
    assert (bucket / "output" / "keep-kind.txt").read_bytes() == b"regular\n"
    assert (bucket / "input" / "append.in").read_bytes() == b"input append.in\n"


def test_outputs_are_counted_and_stored_by_a_recursive_walk(ran: tuple[Path, Any]) -> None:
    bucket, report = ran
    assert (bucket / "output" / "sub" / "one.txt").read_bytes() == b"one\n"
    assert (bucket / "output" / "sub" / "deeper" / "two.bin").read_bytes() == b"two\n"
    # two files in /output, and sub/one.txt in texts/kept (prefix sub/, suffix .txt)
    assert _result(bucket, "nested.in").outputs == 3
    assert _result(bucket, "hollow.in").outputs == 0
    assert report["no_output"] == 1  # the empty folder stores nothing


def test_every_output_takes_the_files_its_filters_match(ran: tuple[Path, Any]) -> None:
    bucket, _ = ran
    folder = bucket / "texts" / "kept"
    kept = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert kept == {"keep-kind.txt", "keep-partial.txt", "sub/one.txt"}


def test_exit_code_ignored_as_oscar_does_but_recorded(ran: tuple[Path, Any]) -> None:
    bucket, _ = ran
    assert (bucket / "output" / "keep-partial.txt").read_bytes() == b"partial\n"
    assert _result(bucket, "exit.in").exit_code == 3


def test_script_path_is_oscars(ran: tuple[Path, Any]) -> None:
    bucket, _ = ran
    assert (bucket / "output" / "zero").read_bytes() == b"/oscar/config/script.sh"


def test_run_folder_is_apart_from_the_outputs(ran: tuple[Path, Any]) -> None:
    bucket, report = ran
    assert report["outputs"] == "s3://bhv/output/ s3://bhv/texts/kept/"
    assert {p.name for p in bucket.iterdir()} == {"input", "output", "texts", "oscar-batch"}
    assert not any(p.name.endswith((".ok", ".tsv")) for p in (bucket / "output").rglob("*"))


def test_a_timeout_stops_the_script_and_what_it_left_running(ran: tuple[Path, Any]) -> None:
    """As `timeout` stops its process group: the pod's dispatcher leads its container's group,
    so an orphan the script made ends with it; the verdict is a timeout, exit code 124."""
    bucket, _ = ran
    hung = _result(bucket, "hang.in")
    assert (hung.ok, hung.reason, hung.exit_code) == (False, "timeout", 124)
    assert (bucket / "output" / "orphan").read_text() == "stopped\n"
