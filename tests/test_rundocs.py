"""`runs` and `report` over planted run folders: each bad folder is unreadable with the reason,
the others still list, and nothing prints a traceback or renders planted markup."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from generator.bucket import identity, runs
from generator.cli import app
from generator.spec import model as spec
from tests.conftest import write_spec

GOOD_REPORT = {
    "run": "good", "service": "s", "input": "s3://pics/in/", "planned": 2, "succeeded": 2,
    "failed": 0, "missing": 0, "passed": True, "failed_ratio": 0.0,
}  # fmt: skip
PLANTED = {
    "deep": ("plan.json", b"[" * 100_000 + b"]" * 100_000),
    "identity-list": ("plan.json", json.dumps({"identity": [1, 2]}).encode()),
    "created-text": ("plan.json", json.dumps({"created": "yesterday"}).encode()),
    "env-list": ("plan.json", json.dumps({"identity": {"env": ["A=1"]}}).encode()),
    "not-object": ("plan.json", b"[1, 2]"),
    "counts-text": ("report.json", json.dumps({**GOOD_REPORT, "planned": "40"}).encode()),
    "no-status": (
        "report.json",
        json.dumps({**GOOD_REPORT, "problems": [{"key": "in/x.jpg"}]}).encode(),
    ),
}
REASONS = {
    "deep": "plan.json: nested too deeply",
    "identity-list": "plan.json: identity: input should be a valid dictionary",
    "created-text": "plan.json: created: input should be a valid number",
    "env-list": "plan.json: identity.env: input should be a valid dictionary",
    "not-object": "plan.json: a JSON list, not an object",
    "counts-text": "report.json: planned: input should be a valid integer",
}  # fmt: skip


def _folder(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    root = data / "pics" / "oscar-batch"
    path = write_spec(
        tmp_path / "spec",
        "name: t\nservice: {name: s, image: a, script: script.sh}\ninput: {bucket: pics, prefix: in/}\n",
    )
    s = spec.load(path)
    good = root / "good"
    good.mkdir(parents=True)
    plan = {"spec": "t", "identity": identity.of(s).record(), "created": 1_700_000_000.0}
    (good / "plan.json").write_text(json.dumps(plan))
    (good / "report.json").write_text(json.dumps(GOOD_REPORT))
    for name, (document, data_bytes) in PLANTED.items():
        (root / name).mkdir()
        (root / name / document).write_bytes(data_bytes)
    (root / "markup").mkdir()  # rich markup in values is printed as text
    (root / "markup" / "plan.json").write_text(
        json.dumps({"identity": {"image": "[bold red]x[/]", "env": {"[/x]": "[link=y]"}}})
    )
    (root / "folder-plan" / "plan.json").mkdir(parents=True)  # a "folder" is no document
    return data, path


def test_runs_lists_every_folder_and_says_why_one_is_unreadable(tmp_path: Path) -> None:
    data, path = _folder(tmp_path)
    out = CliRunner().invoke(app, ["runs", str(path), "--data-dir", str(data), "-o", "json"])
    assert out.exit_code == 0, out.output
    rows = {r["run"]: r for r in json.loads(out.stdout)}
    assert rows["good"]["state"] == "passed" and rows["good"]["planned"] == 2
    assert {r["run"]: r["reason"] for r in rows.values() if r["state"] == "unreadable"} == REASONS
    assert rows["no-status"]["state"] == "passed"  # `runs` reads no problem list
    assert rows["markup"]["service"].startswith("[bold red]x[/] script ?")
    assert rows["folder-plan"]["state"] == "no plan"
    wide = {"COLUMNS": "250"}
    table = CliRunner().invoke(app, ["runs", str(path), "--data-dir", str(data)], env=wide)
    assert table.exit_code == 0, table.output
    assert "[bold red]x[/]" in table.stdout and "nested too deeply" in table.stdout


def test_report_of_a_planted_folder_is_one_line(tmp_path: Path) -> None:
    data, path = _folder(tmp_path)
    for run in PLANTED:
        folder = data / "pics" / "oscar-batch" / run
        if not (folder / "report.json").exists():
            (folder / "report.json").write_bytes(PLANTED[run][1])
        out = CliRunner().invoke(app, ["report", str(path), "--data-dir", str(data), "--run", run])
        assert out.exit_code == 1, (run, out.output)
        (line,) = out.stderr.splitlines()
        assert "report.json: " in line and "Traceback" not in out.output
    marked = {**GOOD_REPORT, "mode": "[bold]file[/]", "identities": {"[/x]": 1, "b": 1},
              "problems": [{"key": "in/x.jpg", "status": "[red]failed", "reason": "r"}]}  # fmt: skip
    (data / "pics" / "oscar-batch" / "good" / "report.json").write_text(json.dumps(marked))
    out = CliRunner().invoke(app, ["report", str(path), "--data-dir", str(data), "--run", "good"])
    assert out.exit_code == 0, out.output
    assert "[bold]file[/]" in out.stdout and "[/x]: 1" in out.stdout and "[red]failed" in out.stdout


def test_read_run_is_pure() -> None:
    from generator.bucket import rundocs

    info = runs.read_run("r", b'{"created": 5}', None, False, "abc")
    assert (info.state, info.created, info.reason) == ("planned", 5.0, "")
    bad = runs.read_run("r", b"\xff", None, False, "abc")
    assert bad.state == "unreadable" and bad.reason.startswith("plan.json: not JSON")
    try:
        rundocs.parse(rundocs.Plan, b'{"files": true}', "plan.json")
    except rundocs.Unreadable as exc:
        assert str(exc) == "plan.json: files: input should be a valid integer"
    else:
        raise AssertionError("a boolean is no count")
