"""The CLI as scientists and operators use it every day (issue 23): whole identifiers at 80
columns and in pipes, one meaning of -o, help and usage errors a newcomer can read."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from minio import Minio
from typer.testing import CliRunner, Result

from generator.bucket import identity
from generator.cli import app
from generator.local import rclone
from generator.spec import model as spec_mod
from tests.conftest import EXAMPLES, ROOT, requires_fuse, write_spec
from tests.staging import File, put, stage

FISH = str(EXAMPLES / "fish-detector" / "batch.yaml")
# a terminal 80 columns wide, as rich detects one (TTY_COMPATIBLE), without colours
TERMINAL_80 = {"TTY_COMPATIBLE": "1", "COLUMNS": "80", "NO_COLOR": "1", "TERM": "xterm"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
OLD = "reef-survey-detector-2024-yolov8n-f24c4e6aab"
NEW = "reef-survey-detector-2025-yolov8m-9f8e7d6c5b"
KEYS = [f"survey/site-{i:02d}/camera-{i % 3}/frame-{i:06d}-long-name.png" for i in range(37)]


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, args, env=env)


def screen(result: Result) -> str:
    return ANSI.sub("", result.stdout)


@pytest.fixture()
def two_runs(s3: Minio, s3_env: rclone.S3Server, bucket: str, tmp_path: Path) -> list[str]:
    """A spec with two runs of long names over 37 long keys, 36 of them changed; the args
    that read them from the server's folder (a local run's --data-dir)."""
    path = write_spec(
        tmp_path,
        f"name: reef-survey-detector\nservice: {{name: s, image: det:v1, script: script.sh}}\n"
        f"input: {{bucket: {bucket}, prefix: survey/}}\n",
    )
    spec = spec_mod.load(path)
    old = [File(k, "ok", {"detections.json": b"[1]"}) for k in KEYS]
    new = [
        File(k, "ok", {"detections.json": b"[1, 2]" if i else b"[1]"}) for i, k in enumerate(KEYS)
    ]
    stage(s3, spec, OLD, old, created=1_764_000_000.0)
    stage(s3, spec, NEW, new, created=1_764_086_400.0)
    report = {
        "run": NEW, "service": "s", "input": f"s3://{bucket}/survey/", "planned": 37,
        "succeeded": 36, "failed": 1, "missing": 0, "unsupported": 0, "workers": 1,
        "wall_seconds": 2.0, "throughput_files_per_s": 1.0, "passed": True, "failed_ratio": 0.02,
        "outputs": f"s3://{bucket}/oscar-batch/{NEW}/outputs/",
        "problems": [{"key": KEYS[5], "status": "failed", "exit_code": 3, "reason": "failed",
                      "error": "boom"}],
    }  # fmt: skip
    put(s3, bucket, f"oscar-batch/{NEW}/report.json", json.dumps(report).encode())
    return [str(path), "--data-dir", str(s3_env.root)]


# 1. identifiers are never cut


def test_runs_in_a_pipe_are_whole_grepable_lines(two_runs: list[str]) -> None:
    result = run(["runs", *two_runs])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["RUN", "CREATED"]
    assert [line.split()[0] for line in lines[1:]] == [OLD, NEW]
    assert "…" not in result.stdout and "┃" not in result.stdout
    assert "runs in " in result.stderr  # the title is not a row


@pytest.mark.parametrize("command", ["runs", "compare", "report"])
def test_a_terminal_80_columns_wide_shows_every_identifier_whole(
    two_runs: list[str], command: str
) -> None:
    args = {
        "runs": ["runs", *two_runs],
        "compare": ["compare", two_runs[0], OLD, NEW, *two_runs[1:]],
        "report": ["report", two_runs[0], "--run", NEW, *two_runs[1:]],
    }[command]
    result = run(args, env=TERMINAL_80)
    assert result.exit_code == 0, result.output
    out = screen(result)
    assert "┃" in out or "│" in out  # a table, as people see it
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    wanted = {
        "runs": [OLD, NEW],
        "compare": [k.removeprefix("survey/") for k in KEYS[1:]] + [OLD, NEW],
        "report": [NEW, KEYS[5]],
    }[command]
    for ident in wanted:
        assert ident in out, ident


def test_runs_wide_name_json_and_yaml(two_runs: list[str]) -> None:
    wide = run(["runs", *two_runs, "-o", "wide"], env=TERMINAL_80)
    assert "det:v1" in screen(wide) and "service" in screen(wide)
    narrow = run(["runs", *two_runs], env=TERMINAL_80)
    assert "det:v1" not in screen(narrow) and "-o wide" in screen(narrow)
    assert run(["runs", *two_runs, "-o", "name"]).stdout.split() == [OLD, NEW]
    as_json = json.loads(run(["runs", *two_runs, "-o", "json"]).stdout)
    as_yaml = yaml.safe_load(run(["runs", *two_runs, "-o", "yaml"]).stdout)
    assert as_json == as_yaml
    # 13: times as RFC 3339, not epoch floats
    assert [r["created"] for r in as_json] == ["2025-11-24T16:00:00Z", "2025-11-25T16:00:00Z"]


def test_compare_names_both_runs_whole_and_lists_files_by_name(two_runs: list[str]) -> None:
    args = ["compare", two_runs[0], OLD, NEW, *two_runs[1:]]
    table = run(args)
    assert f"a = {OLD}, b = {NEW}" in table.stderr
    assert "RECORDS_A" in table.stdout.splitlines()[0]
    names = run([*args, "-o", "name"]).stdout.split()
    assert names == sorted(k.removeprefix("survey/") for k in KEYS[1:])
    assert yaml.safe_load(run([*args, "-o", "yaml"]).stdout)["summary"]["differ"] == 36


# 5. getting started


def test_short_help_and_version() -> None:
    for args in (["-h"], ["runs", "-h"], ["run", "-h"]):
        result = run(args)
        assert result.exit_code == 0 and "Usage:" in result.stdout, args
    version = run(["--version"])
    assert version.exit_code == 0 and re.fullmatch(
        r"oscar-batch \d+\.\d+\.\d+\S*\n", version.stdout
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["runs"], "oscar-batch runs: missing argument 'SPEC' (see oscar-batch runs -h)"),
        (["generate", FISH, "--bogus"], "oscar-batch generate: no such option: --bogus"),
        (["runs", FISH, "-o", "xml"], "oscar-batch runs: invalid value for '--output'"),
        (["nope"], "oscar-batch: no such command 'nope'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], said: str) -> None:
    result = run(args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(said), result.stderr
    assert "╭" not in result.stderr


def test_help_is_whole_at_80_columns() -> None:
    """13: no help line is cut (`…` or `...`) at 80 columns, the command list included."""
    for args in (["-h"], *([c, "-h"] for c in ("run", "runs", "report", "compare", "plan"))):
        out = run(args, env={"COLUMNS": "80"}).stdout
        assert "…" not in out and not re.search(r"[^\]]\.\.\.", out), (args, out)
        assert max(len(line) for line in out.splitlines()) <= 80, args


# 7. one meaning of -o


def test_generate_o_is_a_format_and_the_folder_is_out_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    as_json = run(["generate", FISH, "-o", "json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["kind"] == "Workflow"
    assert not (tmp_path / "json").exists()
    as_yaml = run(["generate", FISH, "-o", "yaml"])
    assert yaml.safe_load(as_yaml.stdout) == json.loads(as_json.stdout)
    old_use = run(["generate", FISH, "-o", "workflows/"])
    assert old_use.exit_code == 2 and not (tmp_path / "workflows").exists()
    assert "use --out-dir workflows/" in old_use.stderr and old_use.stderr.count("\n") == 1
    written = run(["generate", FISH, "--out-dir", "wf", "-o", "json"])
    assert written.exit_code == 0 and json.loads((tmp_path / "wf" / "obsea-fish.json").read_text())


# 13. smaller


def test_a_reader_that_stops_early_is_a_normal_end(tmp_path: Path) -> None:
    """`oscar-batch generate SPEC | head -1`: exit 0 and nothing on stderr (was: exit 1)."""
    exe = Path(sys.executable).parent / "oscar-batch"
    proc = subprocess.Popen(
        [str(exe), "generate", FISH], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line is written
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(60) == 0, err
    assert "Traceback" not in err and "Broken pipe" not in err


# 3. where files go


IMAGE_STATS = str(EXAMPLES / "image-stats" / "batch.yaml")


def test_run_local_says_where_it_looked_before_any_pod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    forgot = run(["run", IMAGE_STATS, "--local"])
    assert forgot.exit_code == 1
    assert "oscar-batch-data/: no such folder" in forgot.stderr and "--data-dir" in forgot.stderr
    assert not (tmp_path / "oscar-batch-data").exists()  # nothing created silently
    (tmp_path / "d" / "imgs").mkdir(parents=True)
    misspelt = run(["run", IMAGE_STATS, "--local", "--data-dir", "d"])
    assert misspelt.exit_code == 1
    assert "no bucket images in d/ (looked for the folder d/images/; buckets there: imgs)" in (
        misspelt.stderr
    )
    assert not (tmp_path / "d" / "images").exists()
    (tmp_path / "d" / "images" / "raw").mkdir(parents=True)
    (tmp_path / "d" / "images" / "raw" / "a.jpg").write_bytes(b"x")
    unmatched = run(["run", IMAGE_STATS, "--local", "--data-dir", "d"])
    assert "no file under d/images/raw/ matches *.png: 1 other file(s) there, e.g. raw/a.jpg" in (
        unmatched.stderr
    )
    assert "plan" not in unmatched.stderr  # no pod started


# 4. report, runs and compare say where to look


def test_without_an_endpoint_the_folders_holding_runs_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OSCAR_BATCH_ENDPOINT", raising=False)
    (tmp_path / "demo-data" / "results" / "image-stats").mkdir(parents=True)
    result = run(["report", IMAGE_STATS])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "--data-dir demo-data (it holds demo-data/results/image-stats/)" in result.stderr
    assert "--alias NAME" in result.stderr
    wrong = run(["runs", IMAGE_STATS, "--data-dir", "elsewhere"])
    assert "elsewhere/results/: no such folder" in wrong.stderr


def test_an_in_cluster_endpoint_fails_at_once_with_the_port_forward() -> None:
    result = run(["runs", IMAGE_STATS, "--endpoint", "http://minio.minio:9000"])
    assert result.exit_code == 1
    assert result.stderr.startswith("oscar-batch: minio.minio: no such host from here")
    assert "kubectl port-forward -n minio svc/minio 9000" in result.stderr


def test_an_mc_alias_gives_endpoint_and_keys(
    two_runs: list[str],
    s3_server: rclone.S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    config = tmp_path / "mc"
    config.mkdir()
    alias = {"url": s3_server.endpoint, "accessKey": s3_server.access_key,
             "secretKey": s3_server.secret_key, "api": "S3v4", "path": "auto"}  # fmt: skip
    (config / "config.json").write_text(json.dumps({"version": "10", "aliases": {"lab": alias}}))
    monkeypatch.setenv("MC_CONFIG_DIR", str(config))
    spec = two_runs[0]
    by_alias = run(["runs", spec, "--alias", "lab", "-o", "name"])
    assert by_alias.exit_code == 0, by_alias.stderr
    assert by_alias.stdout.split() == [OLD, NEW]
    by_url = run(["runs", spec, "--endpoint", s3_server.endpoint, "-o", "name"])
    assert by_url.stdout.split() == [OLD, NEW], by_url.stderr  # the alias's keys, found by URL
    unknown = run(["runs", spec, "--alias", "nope"])
    assert unknown.exit_code == 1 and "no mc alias 'nope'" in unknown.stderr
    assert "(aliases: lab)" in unknown.stderr


def test_durations_are_written_as_people_write_them(tmp_path: Path) -> None:
    """13: `30s`, `5m`, `1h30m` for seconds fields (was: refused, an integer only)."""

    def worker_env(*overrides: str) -> dict[str, str]:
        args = [a for o in overrides for a in ("--set", o)]
        result = run(["generate", FISH, "-o", "json", *args])
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        worker = next(t for t in doc["spec"]["templates"] if t["name"] == "worker")
        return {e["name"]: e.get("value", "") for e in worker["container"]["env"]}

    env = worker_env("worker.file_timeout=30s", "worker.mount_wait=2m")
    assert (env["OSCAR_BATCH_FILE_TIMEOUT"], env["OSCAR_BATCH_MOUNT_WAIT"]) == ("30", "120")
    assert worker_env("worker.file_timeout=1h30m")["OSCAR_BATCH_FILE_TIMEOUT"] == "5400"
    bad = run(["generate", FISH, "--set", "worker.file_timeout=3x"])
    assert bad.exit_code == 1
    assert "worker.file_timeout: '3x' is not a duration: seconds (90), or 30s, 5m" in bad.stderr


# 2. a stopped local run releases its own lock


@requires_fuse
def test_ctrl_c_of_run_local_releases_the_runs_lock(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "pics" / "in").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        (data / "pics" / "in" / name).write_bytes(b"x")
    path = write_spec(
        tmp_path / "spec",
        "name: slow\nservice: {name: slow, image: ghcr.io/x/slow:v1, script: script.sh,"
        " cpu: 100m, memory: 64Mi}\ninput: {bucket: pics, prefix: in/}\n",
        "#!/bin/sh\nsleep 60\n",
    )
    name = identity.default_run(spec_mod.load(path))
    lock = data / "pics" / "oscar-batch" / name / "lock.json"
    exe = Path(sys.executable).parent / "oscar-batch"
    args = [str(exe), "run", str(path), "--local", "--data-dir", str(data)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lock.exists(), "the plan never took the lock"
        time.sleep(1)  # the workers are running their 60 s files
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert f"stopped: released the lock of run {name}" in err
    assert not lock.exists()  # the same command works again at once, no --force


# 10. dead ends list what exists


def test_an_unknown_or_partial_run_name_lists_the_runs(two_runs: list[str]) -> None:
    spec, rest = two_runs[0], two_runs[1:]
    partial = run(["compare", spec, "reef-survey-detector-2024", NEW, *rest])
    assert partial.exit_code == 1 and partial.stderr.count("\n") == 1
    assert f"(did you mean {OLD}?); runs there: {OLD}, {NEW}" in partial.stderr
    unknown = run(["report", spec, "--run", "nope", *rest])
    assert "no run nope in " in unknown.stderr and f"runs there: {OLD}, {NEW}" in unknown.stderr
    no_report = run(["report", spec, "--run", OLD, *rest])
    assert f"run {OLD} has no report (planned)" in no_report.stderr


def test_report_after_a_model_change_says_the_new_version_has_not_run(
    two_runs: list[str],
) -> None:
    result = run(["report", *two_runs, "--set", "service.image=det:v2"])
    assert result.exit_code == 1
    assert "the spec's service as it is now has not run yet (its run: reef-survey-detector-" in (
        result.stderr
    )
    assert f"runs there: {OLD}, {NEW}" in result.stderr


def test_run_help_says_linux_root_and_where_files_go() -> None:
    """13: what run --local needs is said up front, and 3: where its files are."""
    out = " ".join(run(["run", "-h"], env={"COLUMNS": "80"}).stdout.split())
    assert "Linux only, as root" in out and "DIR/<bucket>/<key>" in out


def test_make_demo_ends_with_the_report_and_a_next_step() -> None:
    dry = subprocess.run(
        ["make", "-n", "demo", "BIN=.venv/bin", "STAMP=Makefile", "FUSE=Makefile"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lines = dry.splitlines()
    run_at = next(i for i, line in enumerate(lines) if " run " in line and "--local" in line)
    assert "oscar-batch report examples/image-stats/batch.yaml --data-dir demo-data" in "\n".join(
        lines[run_at:]
    )
    assert "next: " in dry and "Quick start with your own data" in dry


# 9. compare counts the records where they are


def test_compare_counts_records_inside_an_object(
    s3: Minio, s3_env: rclone.S3Server, bucket: str, tmp_path: Path
) -> None:
    path = write_spec(
        tmp_path,
        f"name: det\nservice: {{name: s, image: det:v1, script: script.sh}}\n"
        f"input: {{bucket: {bucket}, prefix: in/}}\n",
    )
    spec = spec_mod.load(path)

    def output(n: int) -> dict[str, bytes]:
        body = {"model": "v", "detections": [{"l": "fish"}] * n, "meta": {"boxes": [1] * (n + 5)}}
        return {"det.json": json.dumps(body).encode()}

    stage(s3, spec, "old", [File("in/a.jpg", "ok", output(1))])
    stage(s3, spec, "new", [File("in/a.jpg", "ok", output(3))])

    def records(*extra: str) -> tuple[object, object]:
        args = ["compare", str(path), "old", "new", "--data-dir", str(s3_env.root), "-o", "json"]
        result = run([*args, *extra])
        assert result.exit_code == 0, result.stderr
        (f,) = json.loads(result.stdout)["files"]
        return f["a"]["records"], f["b"]["records"]

    assert records() == (1, 3)  # the object's only list: its detections (was 1 and 1)
    assert records("--records", "detections") == (1, 3)
    assert records("--records", "$.meta.boxes") == (6, 8)
    assert records("--records", "no.such") == (None, None)  # a wrong path shows, not 0


# 11. the script once, readable, and a summary a reviewer approves at a glance


def test_generated_yaml_holds_the_script_once_under_a_summary(tmp_path: Path) -> None:
    script = '#!/bin/sh\n# count fish\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/x"\n'
    path = write_spec(
        tmp_path,
        "name: fish\nservice: {name: s, image: det:v7, script: script.sh, cpu: 250m}\n"
        "input: {bucket: pics, prefix: in/, include: ['*.jpg']}\n",
        script,
    )
    text = run(["generate", str(path)]).stdout
    assert text.count("count fish") == 1  # was 3: twice JSON-escaped in the stages' spec
    assert "  # count fish\n" in text  # readable, as the file is
    head = text[: text.index("apiVersion:")].splitlines()
    assert all(line.startswith("# ") and len(line) <= 100 for line in head)
    summary = "\n".join(head)
    assert "image det:v7" in summary and "s3://pics/in/ *.jpg" in summary
    assert "script sha256 " in summary and "3 line(s)" in summary
    assert "up to 100, each 250m CPU" in summary and "minio-credentials" in summary
    assert "fails    when any file fails" in summary
    plan = next(t for t in yaml.safe_load(text)["spec"]["templates"] if t["name"] == "plan")
    carried = json.loads(plan["inputs"]["artifacts"][0]["raw"]["data"])["service"]
    assert carried["script"] == "" and carried["script_ref"]["bytes"] == len(script)
    # the stages' copy names the same service version as the spec
    staged = spec_mod.validate(json.loads(plan["inputs"]["artifacts"][0]["raw"]["data"]), "x")
    assert identity.of(staged) == identity.of(spec_mod.load(path))


def test_script_ref_is_not_for_people(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        "name: fish\nservice: {name: s, image: det:v7, script: script.sh,"
        " script_ref: {sha256: x, bytes: 1}}\ninput: {bucket: pics}\n",
    )
    result = run(["generate", str(path)])
    assert result.exit_code == 1 and "service.script_ref is written by generate" in result.stderr
