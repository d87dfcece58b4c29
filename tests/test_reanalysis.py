"""Re-analysis with a new model version, end to end through `run --local`: a new run per
service version, resume within one, refusal across them, `runs` and `compare`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from generator.bucket import identity
from generator.cli import app
from generator.spec import model as spec
from tests.conftest import requires_fuse, write_spec

pytestmark = [requires_fuse]

DETECT = """#!/bin/sh
name=${INPUT_FILE_PATH##*/}
case "$MODEL:$name" in
  v2:b.jpg) printf '[{"l": "fish"}, {"l": "crab"}]' ;;
  v2:c.jpg) echo "v2 cannot read $name" >&2; exit 3 ;;
  *) printf '[{"l": "fish"}]' ;;
esac > "$TMP_OUTPUT_DIR/det.json"
"""


def test_new_model_version_new_run_then_compare(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "pics" / "in").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (data / "pics" / "in" / name).write_bytes(name.encode())
    path = write_spec(
        tmp_path / "spec",
        "name: det\nservice: {name: det, image: ghcr.io/x/det:v1, script: script.sh, cpu: 100m,"
        " memory: 64Mi}\ninput: {bucket: pics, prefix: in/}\nfailure: {max_failed_ratio: 0.5}\n",
        DETECT,
    )
    cli = CliRunner()
    local = ["--local", "--data-dir", str(data), "-o", "json"]

    def run(model: str, *extra: str) -> tuple[int, dict[str, object], str]:
        result = cli.invoke(
            app, ["run", str(path), *local, "--set", f"service.env.MODEL={model}", *extra]
        )
        return result.exit_code, json.loads(result.stdout or "{}"), result.stderr

    v1_name = identity.default_run(spec.load(path, ["service.env.MODEL=v1"]))
    v2_name = identity.default_run(spec.load(path, ["service.env.MODEL=v2"]))
    code, v1, err = run("v1")
    assert code == 0 and v1["run"] == v1_name and v1["succeeded"] == 3
    assert f"new run {v1_name}: 3 file(s) to process (3 worker(s)" in err  # said at the start
    # the same service again resumes its run: nothing to do, and the report says so
    code, again, err = run("v1")
    assert code == 0 and again["run"] == v1_name
    assert f"resuming {v1_name}: all 3 file(s) done, nothing to do" in err
    assert again["attempt"] == {"processed": 0, "succeeded": 0, "failed": 0, "nothing_to_do": True}
    # the first attempt's figures stay: not overwritten by a re-run that did nothing
    for figure in ("wall_seconds", "throughput_files_per_s", "file_seconds", "workers"):
        assert again[figure] == v1[figure], figure
    v1_outputs = data / "pics" / "oscar-batch" / v1_name / "outputs"
    before = {p: p.read_bytes() for p in v1_outputs.rglob("*") if p.is_file()}
    # a new model version starts a new run and processes every file; v1 stays as it was
    code, v2, _ = run("v2")
    assert code == 0 and v2["run"] == v2_name != v1_name
    assert (v2["succeeded"], v2["failed"]) == (2, 1)
    assert {p: p.read_bytes() for p in v1_outputs.rglob("*") if p.is_file()} == before
    # resuming v1's run with v2 is refused with what changed, unless forced
    code, _, err = run("v2", "--run", v1_name)
    assert code == 1
    # the plan pod refuses (no retry: a verdict); run --local shows why, then the failure
    assert (
        f"oscar-batch: run {v1_name} was made by another service version (env MODEL v1 -> v2):"
        f" leave out --run for a new run of this version ({v2_name}), or pass"
        f" --resume-other-version to resume {v1_name} with it"
    ) in err
    assert "retry in" not in err and "Failed" in err.strip().splitlines()[-1]
    code, _, err = run("v2", "--run", v1_name, "--force")  # a lock's takeover is another decision
    assert code == 1 and "--resume-other-version" in err
    code, forced, _ = run("v2", "--run", v1_name, "--resume-other-version")
    assert code == 0 and forced["attempt"]["processed"] == 0  # all done by v1 already
    # runs lists both, with the service that made each
    listing = cli.invoke(
        app,
        ["runs", str(path), "--data-dir", str(data), "-o", "json", "--set", "service.env.MODEL=v2"],
    )
    rows = {r["run"]: r for r in json.loads(listing.stdout)}
    assert set(rows) == {v1_name, v2_name}
    assert rows[v2_name]["current"] and rows[v2_name]["state"] == "passed"
    assert "MODEL=v2" in rows[v2_name]["service"] and rows[v2_name]["failed"] == 1
    # compare: a identical, b has one more detection, c failed with v2
    result = cli.invoke(
        app, ["compare", str(path), v1_name, v2_name, "--data-dir", str(data), "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    assert diff["summary"] == {
        "files": 3,
        "identical": 1,
        "differ": 1,
        "only_a": 1,
        "only_b": 0,
        "neither": 0,
    }
    by_file = {f["file"]: f for f in diff["files"]}
    assert by_file["b.jpg"]["verdict"] == "differ" and by_file["b.jpg"]["changed"] == ["det.json"]
    assert (by_file["b.jpg"]["a"]["outputs"], by_file["b.jpg"]["b"]["outputs"]) == (1, 1)
    assert by_file["c.jpg"]["verdict"] == "only_a" and by_file["c.jpg"]["b"]["status"] == "failed"
    table = cli.invoke(app, ["compare", str(path), v1_name, v2_name, "--data-dir", str(data)])
    assert "1 identical, 1 differ, 1 only in" in table.stderr.replace("\n", " ")
