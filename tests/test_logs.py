"""Per-file logs (issue 23 item 8): a success's warnings are kept as a failure's error is,
within the same bound, and `oscar-batch logs SPEC KEY` prints them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from generator.bucket import results
from generator.cli import app
from tests.conftest import requires_fuse, write_spec

SCRIPT = """#!/bin/sh
case "$INPUT_FILE_PATH" in *a.jpg) echo "warn: low light" >&2 ;; esac
cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/out.jpg"
"""


@requires_fuse
def test_logs_shows_a_successful_files_warning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "pics" / "in").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        (data / "pics" / "in" / name).write_bytes(b"x")
    spec = write_spec(
        tmp_path / "spec",
        "name: cam\nservice: {name: cam, image: ghcr.io/x/cam:v1, script: script.sh,"
        " cpu: 100m, memory: 64Mi}\ninput: {bucket: pics, prefix: in/}\n",
        SCRIPT,
    )
    where = ["--data-dir", str(data)]
    done = CliRunner().invoke(app, ["run", str(spec), "--local", *where])
    assert done.exit_code == 0, done.output

    shown = CliRunner().invoke(app, ["logs", str(spec), "in/a.jpg", *where])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == "warn: low light\n"
    as_json = json.loads(
        CliRunner().invoke(app, ["logs", str(spec), "a.jpg", *where, "-o", "json"]).stdout
    )
    assert as_json["status"] == "succeeded" and as_json["log"] == "warn: low light"
    silent = CliRunner().invoke(app, ["logs", str(spec), "in/b.jpg", *where])
    assert silent.exit_code == 0 and silent.stdout == ""

    unknown = CliRunner().invoke(app, ["logs", str(spec), "in/a.jpeg", *where])
    assert unknown.exit_code == 1 and unknown.stderr.count("\n") == 1
    assert "planned no file in/a.jpeg (did you mean in/a.jpg?)" in unknown.stderr
    usage = CliRunner().invoke(app, ["logs", str(spec)])
    assert usage.exit_code == 2 and "missing argument 'key'" in usage.stderr.lower()


def test_a_successs_log_reads_back_and_silent_ones_cost_nothing() -> None:
    warned = results.Record(
        "a" * 16, True, 0, 0.5, 1, "m-1", hashes=(("o.json", "f" * 64),), error="warn: low light"
    )
    silent = results.Record("b" * 16, True, 0, 0.5, 0, "m-1", hashes=())
    failed = results.Record("c" * 16, False, 3, 0.5, 0, "m-1", reason="failed", error="boom")
    data = results.encode("0000", "", [warned, silent, failed])
    head = data.decode().split("\nend 3 ")[0].splitlines()
    assert head[1].endswith(" 1/out log 0 15") and head[2].endswith(" m-1")
    parsed = results.parse_batch(data)
    assert parsed is not None
    assert parsed[0].error == "warn: low light" and parsed[0].hashes == (("o.json", "f" * 64),)
    assert parsed[1].error == "" and parsed[1].hashes == ()
    assert parsed[2].error == "boom"
    # an object written before success logs reads as before
    old = b"oscar-batch-results 2 0000 -\nok " + b"a" * 16 + b" 0 0.5 0 m-1\nend 1\n"
    (record,) = results.parse_batch(old) or []
    assert record.ok and record.error == "" and record.hashes == ()
