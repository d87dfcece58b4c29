"""Hostile outputs through `run --local`: one bad output is that file's merge problem, the
aggregate completes, the merged tables stay sound, `compare` prints no traceback (issue 20,
items 9 and 11)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import requires_fuse, write_spec

# What each input makes its script write: deep JSON, a huge CSV field, formulas and tag-named
# and repeated columns, NaN.
HOSTILE = r"""#!/bin/sh
out=$TMP_OUTPUT_DIR
case ${INPUT_FILE_PATH##*/} in
  deep.jpg) { head -c 100000 /dev/zero | tr '\0' '['; head -c 100000 /dev/zero | tr '\0' ']'; } > "$out/det.json" ;;
  big.jpg) { echo 'a,b'; head -c 140000 /dev/zero | tr '\0' x; echo ',1'; } > "$out/det.csv" ;;
  formula.jpg) printf '%s\n' '=cmd(),n,n,input_key,output' '=HYPERLINK("http://x"),1,2,forged,fake' > "$out/det.csv" ;;
  nan.jpg) echo '{"score": NaN, "area": Infinity}' > "$out/det.json" ;;
esac
"""


@requires_fuse
def test_hostile_outputs_are_their_files_problems_and_the_run_completes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "pics" / "in").mkdir(parents=True)
    for name in ("deep", "big", "formula", "nan"):
        (data / "pics" / "in" / f"{name}.jpg").write_bytes(b"x")
    path = write_spec(
        tmp_path / "spec",
        "name: ho\nservice: {name: c, image: alpine, script: script.sh, cpu: 100m, memory: 64Mi}\n"
        "input: {bucket: pics, prefix: in/}\nplanning: {max_workers: 1}\n",
        HOSTILE,
    )
    local = ["run", str(path), "--local", "--data-dir", str(data), "--run", "r", "-o", "json"]
    out = CliRunner().invoke(app, local)
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["succeeded"] == 4
    assert {(p["key"], p["reason"]) for p in report["merged"]["problems"]} == {
        ("in/deep.jpg", "JSON nested too deeply to merge"),
        ("in/big.jpg", "CSV: field larger than field limit (131072)"),
    }
    run = data / "pics" / "oscar-batch" / "r"
    (line,) = (run / "results.jsonl").read_text().splitlines()
    assert json.loads(line, parse_constant=lambda c: 1 / 0) == {
        "input_key": "in/nan.jpg", "output": "det.json", "score": "NaN", "area": "Infinity",
    }  # fmt: skip
    table = list(csv.reader(io.StringIO((run / "results.csv").read_text())))
    assert table == [
        ["input_key", "output", "'=cmd()", "n", "n.1", "input_key.1", "output.1"],
        ["in/formula.jpg", "det.csv", '\'=HYPERLINK("http://x")', "1", "2", "forged", "fake"],
    ]
    shown = CliRunner().invoke(app, ["report", str(path), "--data-dir", str(data), "--run", "r"])
    assert shown.exit_code == 0 and "2 output(s) unreadable" in shown.stdout
    # compare counts the records of the same outputs: no traceback either
    same = CliRunner().invoke(
        app, ["compare", str(path), "r", "r", "--data-dir", str(data), "-o", "json"]
    )
    assert same.exit_code == 0, same.output
    assert json.loads(same.stdout)["summary"]["identical"] == 4
