"""`compare` and `runs` on runs staged in the real S3 server (two specs, known differences)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from minio import Minio
from typer.testing import CliRunner

from generator.cli import app
from generator.local import rclone
from generator.spec import model as spec
from generator.stages import aggregate
from tests.conftest import write_spec
from tests.staging import File, stage
from tests.test_pages import elements


def _spec(folder: Path, bucket: str, prefix: str, image: str) -> tuple[Path, spec.BatchSpec]:
    path = write_spec(
        folder,
        f"name: det\nservice: {{name: s, image: {image}, script: script.sh}}\n"
        f"input: {{bucket: {bucket}, prefix: {prefix}}}\noutput: {{prefix: runs/{prefix}}}\n",
    )
    return path, spec.load(path)


def test_compare_two_specs_reports_exactly_the_differences(
    s3: Minio, s3_env: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    path_a, a = _spec(tmp_path / "a", bucket, "2024/", "det:v1")
    path_b, b = _spec(tmp_path / "b", bucket, "2025/", "det:v2")
    big = b"x" * (3 << 20)  # streamed in chunks, hashed, not counted (not JSON)
    stage(s3, a, "old", [
        File("2024/same.jpg", "ok", {"d.json": b"[1, 2]", "big.bin": big}),
        File("2024/more.jpg", "ok", {"d.json": b"[1]"}),
        File("2024/renamed.jpg", "ok", {"x.csv": b"h\n1\n"}),
        File("2024/lost.jpg", "ok", {"d.json": b"[]"}),
        File("2024/gained.jpg", "fail"),
        File("2024/never.jpg", None),
        File("2024/only-in-a.jpg", "ok"),
    ])  # fmt: skip
    stage(s3, b, "new", [
        File("2025/same.jpg", "ok", {"d.json": b"[1, 2]", "big.bin": big}),
        File("2025/more.jpg", "ok", {"d.json": b"[1, 2, 3]"}),
        File("2025/renamed.jpg", "ok", {"y.csv": b"h\n1\n"}),
        File("2025/lost.jpg", None),  # no result: a worker died
        File("2025/gained.jpg", "ok", {"d.json": b"[1]"}),
        File("2025/never.jpg", "fail"),
        File("2025/only-in-b.jpg", "ok"),
    ])  # fmt: skip
    args = [
        "compare",
        str(path_a),
        "old",
        "new",
        "--spec-b",
        str(path_b),
        "--endpoint",
        s3_env.endpoint,
    ]
    # identities come from the results, recorded when the outputs were stored: no output is
    # read again (removing one changes nothing)
    s3.remove_object(bucket, "runs/2025/new/outputs/same.jpg/big.bin")
    result = CliRunner().invoke(app, [*args, "-o", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    verdicts = {f["file"]: f["verdict"] for f in out["files"]}
    assert verdicts == {
        "gained.jpg": "only_b", "lost.jpg": "only_a", "more.jpg": "differ", "never.jpg": "neither",
        "only-in-a.jpg": "only_a", "only-in-b.jpg": "only_b", "renamed.jpg": "differ",
    }  # fmt: skip
    assert out["summary"] == {
        "files": 8,
        "identical": 1,
        "differ": 2,
        "only_a": 2,
        "only_b": 2,
        "neither": 1,
    }
    files = {f["file"]: f for f in out["files"]}
    assert files["more.jpg"]["changed"] == ["d.json"]
    assert (files["more.jpg"]["a"]["records"], files["more.jpg"]["b"]["records"]) == (1, 3)
    assert files["renamed.jpg"]["changed"] == ["x.csv", "y.csv"]
    assert files["lost.jpg"]["b"]["status"] == "missing"
    assert files["only-in-b.jpg"]["a"]["status"] == "missing"  # not planned there
    every = json.loads(CliRunner().invoke(app, [*args, "-o", "json", "--all"]).stdout)
    same = next(f for f in every["files"] if f["file"] == "same.jpg")
    assert same["a"] == same["b"] == {"status": "succeeded", "outputs": 2, "records": 2}
    missing = CliRunner().invoke(app, [*args[:3], "nope", *args[4:]])
    assert missing.exit_code == 1 and "no run nope in s3://" in missing.stderr
    # a run whose results predate output hashes (format 1) is refused, naming why
    stage(s3, b, "older", [File("2025/same.jpg", "ok", {"d.json": b"[1, 2]"})], fmt=1)
    old = CliRunner().invoke(app, [*args[:3], "older", *args[4:]])
    assert old.exit_code == 1 and "before result format 2" in old.stderr


def test_runs_lists_each_run_with_its_service(
    s3: Minio, s3_env: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    path, a = _spec(tmp_path / "a", bucket, "in/", "det:v1")
    stage(s3, a, "first", [File("in/a.jpg", "ok")], created=1_700_000_000.0)
    s3.put_object(
        bucket,
        "runs/in/first/report.json",
        *_body({"planned": 1, "succeeded": 1, "failed": 0, "missing": 0, "passed": True}),
    )
    stage(s3, a, "second", [File("in/a.jpg", None)], created=1_700_000_100.0)
    s3.put_object(bucket, "runs/in/second/lock.json", *_body({}))
    cli = CliRunner()
    result = cli.invoke(app, ["runs", str(path), "--endpoint", s3_env.endpoint, "-o", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["run"], r["state"], r["current"]) for r in rows] == [
        ("first", "passed", True),
        ("second", "in progress", True),
    ]
    assert rows[0]["service"].startswith("det:v1 script ")
    table = cli.invoke(
        app, ["runs", str(path), "--endpoint", s3_env.endpoint, "--set", "service.image=det:v2"]
    )
    assert (
        "first" in table.stdout and "2023-11-14" in table.stdout and "passed *" not in table.stdout
    )
    # --html: each run's page beside an index linking those that have one
    folder = tmp_path / "pages"
    pages_out = cli.invoke(
        app, ["runs", str(path), "--endpoint", s3_env.endpoint, "--html", str(folder)]
    )
    assert pages_out.exit_code == 0, pages_out.output
    assert sorted(p.name for p in folder.iterdir()) == ["first.html", "index.html"]
    index = (folder / "index.html").read_text()
    assert '<a href="first.html">first</a>' in index and "second" in index
    assert "2023-11-14 22:13" in index and "Run first of" not in index
    assert "<h1>Run" in (folder / "first.html").read_text()


def _body(data: dict[str, object]) -> tuple[io.BytesIO, int]:
    raw = json.dumps(data).encode()
    return io.BytesIO(raw), len(raw)


def test_compare_html_page_shows_records_changes_and_classes(
    s3: Minio, s3_env: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    path_a, a = _spec(tmp_path / "a", bucket, "in/", "det:v1")
    hostile = "in/<b>bold</b>.jpg"
    stage(s3, a, "old", [
        File("in/same.jpg", "ok", {"d.json": b"[1, 2]"}),
        File("in/more.jpg", "ok", {"d.json": b"[1]"}),
        File(hostile, "ok", {"d.json": b"[1, 2, 3, 4]"}),
    ])  # fmt: skip
    stage(s3, a, "new", [
        File("in/same.jpg", "ok", {"d.json": b"[1, 2]"}),
        File("in/more.jpg", "ok", {"d.json": b"[1, 2, 3]"}),
        File(hostile, "ok", {"d.json": b"[]"}),
    ])  # fmt: skip
    for run, labels in (("old", ["fish", "fish", "crab"]), ("new", ["fish", "eel"])):
        lines = "".join(
            json.dumps({"input_key": "in/x.jpg", "label": x, "score": 0.5}) + "\n" for x in labels
        )
        s3.put_object(bucket, f"runs/in/{run}/results.jsonl", *_body_text(lines))
    page = tmp_path / "compare.html"
    args = [
        "compare",
        str(path_a),
        "old",
        "new",
        "--endpoint",
        s3_env.endpoint,
        "--html",
        str(page),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "more.jpg" in result.stdout  # the table is still printed
    html = page.read_text()
    found = elements(html)
    assert found.tags.count("svg") == 3 and "script" not in found.tags  # pairs, deltas, classes
    # the files that changed most, largest change first; keys escaped
    assert html.index("&lt;b&gt;bold&lt;/b&gt;.jpg") < html.index("more.jpg")
    assert "<b>bold</b>" not in html and "-4" in html and "+2" in html
    assert "Records per label" in html and ">eel<" in html and ">crab<" in html


def _body_text(text: str) -> tuple[io.BytesIO, int]:
    data = text.encode()
    return io.BytesIO(data), len(data)


def test_record_counts_come_from_the_aggregate_without_reading_outputs(
    s3: Minio, s3_env: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    path, s = _spec(tmp_path, bucket, "in/", "det:v1")
    stage(s3, s, "old", [File("in/a.jpg", "ok", {"d.json": b"[1]", "n.txt": b"x"})])
    stage(s3, s, "new", [File("in/a.jpg", "ok", {"d.json": b"[1, 2, 3]", "n.txt": b"x"})])
    for run in ("old", "new"):
        aggregate.run_aggregate(s3, s, run)
        # the aggregate counted while merging; the outputs are not needed any more
        s3.remove_object(bucket, f"runs/in/{run}/outputs/a.jpg/d.json")
    args = ["compare", str(path), "old", "new", "--endpoint", s3_env.endpoint, "-o", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (f,) = json.loads(result.stdout)["files"]
    assert (f["verdict"], f["changed"]) == ("differ", ["d.json"])
    assert (f["a"]["records"], f["b"]["records"]) == (1, 3)
