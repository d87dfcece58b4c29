"""A hostile script through `run --local` with input and output in one bucket: it may write
its outputs, never the inputs or another run (issue 20, item 8). The mounts are the YAML's,
so what holds here holds on a cluster."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import requires_fuse, write_spec

# Tries every bucket mount the pod has: delete a source, plant an input, forge another run.
HOSTILE = """#!/bin/sh
cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"
for m in /mnt/* /mnt/.oscar-batch/*; do
  rm -f "$m/in/victim.jpg"
  mkdir -p "$m/in" && echo planted > "$m/in/planted.jpg"
  mkdir -p "$m/oscar-batch/other" && echo forged > "$m/oscar-batch/other/report.json"
done 2>/dev/null
exit 0
"""


@requires_fuse
def test_a_script_cannot_touch_inputs_or_other_runs_through_the_runners_mount(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    inputs = data / "pics" / "in"
    inputs.mkdir(parents=True)
    for name in ("victim.jpg", "a.jpg", "b.jpg"):
        (inputs / name).write_bytes(name.encode())
    other = data / "pics" / "oscar-batch" / "other"
    other.mkdir(parents=True)
    (other / "report.json").write_text('{"kept": true}')
    path = write_spec(
        tmp_path / "spec",
        "name: ws\nservice: {name: c, image: alpine, script: script.sh, cpu: 100m, memory: 64Mi}\n"
        "input: {bucket: pics, prefix: in/}\nplanning: {max_workers: 1}\n",
        HOSTILE,
    )
    out = CliRunner().invoke(
        app, ["run", str(path), "--local", "--data-dir", str(data), "--run", "r", "-o", "json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["succeeded"] == 3
    assert sorted(p.name for p in inputs.iterdir()) == ["a.jpg", "b.jpg", "victim.jpg"]
    assert (inputs / "victim.jpg").read_bytes() == b"victim.jpg"
    assert (other / "report.json").read_text() == '{"kept": true}'
    assert sorted(p.name for p in (data / "pics" / "oscar-batch").iterdir()) == ["other", "r"]
    # its outputs went where outputs go
    assert (data / "pics" / "oscar-batch" / "r" / "outputs" / "a.jpg" / "copy").read_bytes() == (
        b"a.jpg"
    )
