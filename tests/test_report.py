"""`oscar-batch report` reads a run's report from the real S3 server."""

from __future__ import annotations

import io
import json
from pathlib import Path

from minio import Minio
from typer.testing import CliRunner

from generator.cli import app
from generator.local import rclone
from generator.spec.model import load
from tests.conftest import write_spec
from tests.test_pages import elements, synthetic_report

REPORT = {
    "run": "r", "service": "s", "input": "s3://b/in/", "planned": 3, "succeeded": 2, "failed": 1, "missing": 0,
    "unsupported": 0, "workers": 1, "wall_seconds": 2.0, "throughput_files_per_s": 1.0, "outputs": "s3://b/o/",
    "passed": False, "failed_ratio": 0.3333,
    "problems": [{"key": "in/x.jpg", "status": "failed", "exit_code": 3, "reason": "failed", "error": "boom\nbad pixel"}],
}  # fmt: skip


def test_report_table_and_json(
    s3: Minio, s3_env: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    data = json.dumps(REPORT).encode()
    s3.put_object(bucket, "oscar-batch/r/report.json", io.BytesIO(data), len(data))
    spec = write_spec(
        tmp_path,
        f"name: t\nservice: {{name: s, image: a, script: script.sh}}\ninput: {{bucket: {bucket}}}\n",
    )
    cli = CliRunner()
    result = cli.invoke(
        app, ["report", str(spec), "--run", "r", "--endpoint", s3_env.endpoint, "-o", "json"]
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == REPORT
    result = cli.invoke(app, ["report", str(spec), "--run", "r", "--endpoint", s3_env.endpoint])
    assert result.exit_code == 0
    assert (
        "in/x.jpg" in result.stdout
        and "bad pixel" in result.stdout
        and "33.33% bad" in result.stdout
    )
    missing = cli.invoke(
        app, ["report", str(spec), "--run", "other", "--endpoint", s3_env.endpoint]
    )
    assert missing.exit_code == 1
    assert "no run other in s3://" in missing.stderr
    assert s3_env.secret_key not in missing.stderr + missing.stdout


def test_report_prints_hostile_keys_and_logs_inert(
    s3: Minio, s3_env: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    key = "in/[/x]\x1b]0;pwned\x07[bold]\x1b[2J.jpg"
    report = {
        **REPORT,
        "problems": [{**REPORT["problems"][0], "key": key, "error": "\x1b[31m[/red] boom"}],  # type: ignore[dict-item]
    }
    data = json.dumps(report).encode()
    s3.put_object(bucket, "oscar-batch/r/report.json", io.BytesIO(data), len(data))
    spec = write_spec(
        tmp_path,
        f"name: t\nservice: {{name: s, image: a, script: script.sh}}\ninput: {{bucket: {bucket}}}\n",
    )
    result = CliRunner().invoke(
        app, ["report", str(spec), "--run", "r", "--endpoint", s3_env.endpoint]
    )
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    flat = result.stdout.replace("\n", "").replace("│", "").replace(" ", "")
    assert "in/[/x]\\x1b]0;pwned\\x07[bold]" in flat and "[/red]boom" in flat


def test_report_reads_a_local_runs_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = data / "pics" / "oscar-batch" / "r"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(REPORT))
    spec = write_spec(
        tmp_path,
        "name: t\nservice: {name: s, image: a, script: script.sh}\ninput: {bucket: pics}\n",
    )
    cli = CliRunner()
    args = ["report", str(spec), "--run", "r", "--data-dir", str(data), "-o", "json"]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == REPORT
    missing = cli.invoke(app, [*args[:2], "--run", "other", *args[4:]])
    assert missing.exit_code == 1 and "no run other in " in missing.stderr


def test_report_html_draws_the_page_from_report_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = data / "pics" / "oscar-batch"
    spec = write_spec(
        tmp_path,
        "name: t\nservice: {name: s, image: a, script: script.sh}\ninput: {bucket: pics}\n",
    )
    new = synthetic_report(load(spec), 300, 3)
    for run, report in (("new", new), ("old", REPORT)):  # "old": a version with no series
        (folder / run).mkdir(parents=True)
        (folder / run / "report.json").write_text(json.dumps(report))
    cli = CliRunner()
    for run, charts in (("new", 4), ("old", 0)):
        page = tmp_path / f"{run}.html"
        args = ["report", str(spec), "--run", run, "--data-dir", str(data), "--html", str(page)]
        result = cli.invoke(app, [*args, "-o", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["run"] in ("r1", "r")  # stdout stays the report
        assert f"page written to {page}" in result.stderr
        assert elements(page.read_text()).tags.count("svg") == charts
    denied = cli.invoke(app, [*args[:-1], str(tmp_path / "no" / "such" / "dir.html")])
    assert denied.exit_code == 1 and denied.stderr.startswith("oscar-batch: cannot write")
