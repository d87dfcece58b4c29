"""`run --local` executes the workflow document: the committed workflows end to end, edits to
the YAML that change the run, the mount-wait regression, refusals, pods' environment."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from generator.cli import app
from tests.conftest import EXAMPLES, ROOT, requires_fuse

WORKFLOWS = ROOT / "workflows"
requires_unshare = pytest.mark.skipif(
    shutil.which("unshare") is None or shutil.which("openssl") is None,
    reason="unshare (util-linux) or openssl missing",
)
pytestmark = [requires_fuse, requires_unshare]


def run_local(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["run", *args, "--local"], env=env)


def images(data: Path, n: int) -> None:
    subprocess.run(
        [sys.executable, str(EXAMPLES / "image-stats" / "make_images.py"), str(data), str(n)],
        check=True,
        capture_output=True,
    )


def report(out: Result) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def edited(tmp_path: Path, source: Path, change: Any) -> Path:
    """A copy of a workflow YAML with `change(text)` applied."""
    path = tmp_path / source.name
    path.write_text(change(source.read_text()))
    return path


OLD_MOUNT_CHECK = """mounted() {
  while read -r _dev point _rest; do [ "$point" = "$1" ] && return 0; done </proc/mounts
  return 1
}"""


def with_old_mount_check(text: str) -> str:
    """The runner's mount check before issue 10 item 1: any mount at the point counts."""
    doc = yaml.safe_load(text)
    for tpl in doc["spec"]["templates"]:
        command = (tpl.get("container") or {}).get("command") or []
        if len(command) > 2 and "mounted()" in command[2]:
            command[2] = re.sub(r"mounted\(\) \{.*?\n\}", OLD_MOUNT_CHECK, command[2], flags=re.S)
    return yaml.safe_dump(doc, sort_keys=False)


def test_image_stats_workflow_runs_end_to_end_with_two_buckets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    images(data, 12)
    for broken in (data / "images").rglob("img-broken-*"):
        broken.unlink()  # 2 of 14 would fail the run (max_failed_ratio 2%); test_faults has failures
    out = run_local(str(WORKFLOWS / "image-stats.yaml"), "--data-dir", str(data), "-o", "json")
    assert out.exit_code == 0, out.stderr
    rep = report(out)
    assert rep["workflow"]["phase"] == "Succeeded"
    assert (rep["planned"], rep["succeeded"], rep["failed"], rep["missing"]) == (12, 12, 0, 0)
    outputs = data / "results" / "image-stats" / "image-stats" / "outputs"
    assert len(list(outputs.rglob("*.json"))) == 12
    assert "runs its command on this machine" in out.stderr
    assert not list(Path("/tmp").glob("oscar-batch-exec-*/pods"))  # only ours could be there
    assert not (Path("/mnt/images").exists() or Path("/etc/oscar-batch").exists())


def test_the_old_mount_check_reproduces_the_pod_failure(tmp_path: Path) -> None:
    """Regression test of the executor's fidelity: in a pod the emptyDir is already a mount,
    so the old check passed before rclone mounted and every worker failed on its manifest."""
    data = tmp_path / "data"
    images(data, 4)
    path = edited(tmp_path, WORKFLOWS / "image-stats.yaml", with_old_mount_check)
    out = run_local(str(path), "--data-dir", str(data), "-o", "json", "--time-scale", "0.001")
    assert out.exit_code == 1
    rep = report(out)
    assert rep["workflow"]["phase"] == "Failed"
    assert rep["missing"] == rep["planned"] == 6 and rep["succeeded"] == 0
    logs = list((data / ".oscar-batch-logs" / "image-stats").glob("*worker*-main.log"))
    assert logs and all("cannot read the manifest" in p.read_text() for p in logs)


def test_every_committed_workflow_accounts_for_every_file(tmp_path: Path) -> None:
    """obsea-fish's service image cannot run here: every file fails, with its reason."""
    data = tmp_path / "data"
    for i in range(5):
        (data / "fish-detector" / "input").mkdir(parents=True, exist_ok=True)
        (data / "fish-detector" / "input" / f"f{i}.jpg").write_bytes(b"jpeg")
    out = run_local(str(WORKFLOWS / "obsea-fish.yaml"), "--data-dir", str(data), "-o", "json")
    assert out.exit_code == 1  # the aggregate fails the run past max_failed_ratio
    rep = report(out)
    assert rep["planned"] == 5 and rep["failed"] == 5 and rep["missing"] == 0
    assert all("detect.py" in (p["error"] or "") for p in rep["problems"])
