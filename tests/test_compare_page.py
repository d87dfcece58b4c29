"""The aggregate's compare.html: a run made by another model version than the spec's previous
run gets a page comparing the two, written beside report.html (through `run --local`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import requires_fuse, write_spec

pytestmark = [requires_fuse]

# The "model": one detection per image, two for the cat images from version v2 on.
DETECT = """#!/bin/sh
set -eu
name=${INPUT_FILE_PATH##*/}
case "$MODEL:$name" in
v2:cat*) printf '[{"label":"cat"},{"label":"cat"}]' > "$TMP_OUTPUT_DIR/det.json";;
*) printf '[{"label":"dog"}]' > "$TMP_OUTPUT_DIR/det.json";;
esac
"""


def _run(tmp_path: Path, data: Path, model: str, run: str) -> str:
    spec_path = write_spec(
        tmp_path / f"spec-{model}",
        "name: zoo\nservice: {name: detect, image: alpine, script: script.sh, cpu: 100m,"
        f" memory: 64Mi, env: {{MODEL: {model}}}}}\ninput: {{bucket: pics, prefix: in/}}\n",
        DETECT,
    )
    out = CliRunner().invoke(
        app, ["run", str(spec_path), "--local", "--data-dir", str(data), "--run", run]
    )
    assert out.exit_code == 0, out.stderr
    return out.stderr


def test_a_run_of_another_model_version_gets_a_compare_page(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "pics" / "in").mkdir(parents=True)
    for name in ("cat-1.jpg", "cat-2.jpg", "dog-1.jpg", "dog-2.jpg", "dog-3.jpg"):
        (data / "pics" / "in" / name).write_bytes(name.encode())
    runs = data / "pics" / "oscar-batch"
    _run(tmp_path, data, "v1", "first")
    assert (runs / "first" / "report.html").exists()
    assert not (runs / "first" / "compare.html").exists()  # no predecessor: no page
    _run(tmp_path, data, "v2", "second")
    page = (runs / "second" / "compare.html").read_text()
    assert "first vs second" in page
    # the files whose outputs changed, named in the table of files that changed most
    assert "cat-1.jpg" in page and "cat-2.jpg" in page and "dog-1.jpg" not in page
    assert "<script" not in page


def test_a_predecessor_that_cannot_be_compared_costs_the_aggregate_one_line(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    (data / "pics" / "in").mkdir(parents=True)
    (data / "pics" / "in" / "cat-1.jpg").write_bytes(b"cat")
    runs = data / "pics" / "oscar-batch"
    _run(tmp_path, data, "v1", "first")
    # a finished run of another version whose index is broken: the latest predecessor
    broken = runs / "broken"
    broken.mkdir()
    plan = json.loads((runs / "first" / "plan.json").read_text())
    plan["created"], plan["identity"]["id"] = time.time(), "another-version"
    (broken / "plan.json").write_text(json.dumps(plan))
    (broken / "report.json").write_text((runs / "first" / "report.json").read_text())
    (broken / "index.tsv").write_text("not an index line\n")
    _run(tmp_path, data, "v2", "second")
    assert (runs / "second" / "report.html").exists()
    assert not (runs / "second" / "compare.html").exists()
    logs = "".join(p.read_text() for p in (data / ".oscar-batch-logs" / "second").glob("*aggr*"))
    assert logs.count("no compare page against the previous run") == 1, logs
