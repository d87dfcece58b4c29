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

from generator.build import workflow
from generator.cli import app
from generator.clients import s3 as storage
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


def run_folder(data: Path, rep: dict[str, Any]) -> Path:
    """The run's folder under the embedded server's data (the run name carries the identity)."""
    return data / str(rep["report"]).removeprefix("s3://").rsplit("/", 1)[0]


def edited(tmp_path: Path, source: Path, change: Any) -> Path:
    """A copy of a workflow YAML with `change(text)` applied."""
    path = tmp_path / source.name
    path.write_text(change(source.read_text()))
    return path


OLD_MOUNT_CHECK = """mounted() {
  while read -r _dev point _rest; do [ "$point" = "$1" ] && return 0; done </proc/mounts
  return 1
}"""


def edit_runner(text: str, change: Any) -> str:
    """The workflow with `change(script text)` applied to the worker's `sh -c` scripts (the
    runner's and the service container's, which share the mount check)."""
    doc = yaml.safe_load(text)
    for tpl in doc["spec"]["templates"]:
        for c in [tpl.get("container") or {}, *(tpl.get("sidecars") or [])]:
            command = c.get("command") or []
            if len(command) > 2 and "mounted()" in command[2]:
                command[2] = change(command[2])
    return yaml.safe_dump(doc, sort_keys=False)


def with_old_mount_check(text: str) -> str:
    """The runner's mount check before issue 10 item 1: any mount at the point counts."""
    return edit_runner(
        text,
        lambda sh: re.sub(r"^mounted\(\) \{.*?\n\}", OLD_MOUNT_CHECK, sh, flags=re.S | re.M),
    )


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
    outputs = run_folder(data, rep) / "outputs"
    assert len(list(outputs.rglob("*.json"))) == 12
    assert "runs its command on this machine" in out.stderr
    # the aggregate released the run's lock: the exit handler starts no pod
    assert "release: Skipped (when 'Succeeded != Succeeded' evaluated false)" in out.stderr
    assert not list(data.rglob("lock.json")) and not list(data.rglob("*-release-*.log"))
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
    logs = list((data / ".oscar-batch-logs").glob("image-stats*/*worker*-main.log"))
    assert logs and all("cannot read the plan's" in p.read_text() for p in logs)


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


FIDELITY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: fidelity-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: who, value: world}]}
  templates:
  - name: main
    dag:
      tasks:
      - {name: list, template: list}
      - name: each
        template: echo
        depends: list
        withParam: '{{tasks.list.outputs.parameters.items}}'
        arguments: {parameters: [{name: x, value: '{{item}}'}]}
      - {name: after, template: echo, depends: each.AnySucceeded, arguments: {parameters: [{name: x, value: after}]}}
      - {name: never, template: echo, depends: each.Succeeded, arguments: {parameters: [{name: x, value: never}]}}
      - {name: nosecret, template: nosecret, depends: list}
      - {name: slow, template: slow, depends: list}
      - {name: nooutput, template: nooutput, depends: list}
      - {name: flaky, template: flaky, depends: list}
  - name: list
    container: {image: alpine, command: [sh, -c, 'echo "[\\"a\\",\\"b\\",\\"bad\\"]" > /tmp/items']}
    outputs: {parameters: [{name: items, valueFrom: {path: /tmp/items}}]}
  - name: echo
    inputs: {parameters: [{name: x}]}
    container:
      image: alpine
      command: [sh, -c]
      args: ['echo "said $(GREETING) {{inputs.parameters.x}} {{workflow.parameters.who}} $$HOME"; test {{inputs.parameters.x}} != bad']
      env: [{name: GREETING, value: hi}]
  - name: nosecret
    container:
      image: alpine
      command: [sh, -c, 'echo never']
      env: [{name: X, valueFrom: {secretKeyRef: {name: creds, key: OSCAR_BATCH_TEST_ABSENT_KEY}}}]
  - name: slow
    activeDeadlineSeconds: 1
    container: {image: alpine, command: [sleep, '30']}
  - name: nooutput
    container: {image: alpine, command: ['true']}
    outputs: {parameters: [{name: p, valueFrom: {path: /tmp/nothing}}]}
  - name: flaky
    retryStrategy: {limit: 3, retryPolicy: OnFailure, backoff: {duration: 1s, factor: 2}}
    container: {image: alpine, command: [sh, -c, 'test {{retries}} -ge 2']}
"""


def test_argo_semantics_on_real_pods(tmp_path: Path) -> None:
    path = tmp_path / "fidelity.yaml"
    path.write_text(FIDELITY)
    data = tmp_path / "data"
    out = run_local(str(path), "--data-dir", str(data), "-o", "json", "--time-scale", "0.01")
    assert out.exit_code == 1
    err = out.stderr
    assert json.loads(out.stdout)["workflow"]["phase"] in ("Failed", "Error")
    (logs,) = (data / ".oscar-batch-logs").glob("workflow*")
    said = sorted(
        line for p in logs.glob("*-echo-*-main.log") for line in p.read_text().splitlines()
    )
    home = str(Path.home())
    # Argo substitution, then Kubernetes $(VAR) and $$ expansion, one pod per withParam item
    assert said == [f"said hi {x} world {home}" for x in ("a", "after", "b", "bad")]
    assert ".each(2:bad): Failed (Error (exit code 1))" in err
    assert "never: Omitted (depends 'each.Succeeded' is false)" in err
    assert "couldn't find key OSCAR_BATCH_TEST_ABSENT_KEY in Secret default/creds" in err
    assert ".slow: Failed (Pod was active on the node longer than the specified deadline)" in err
    assert ".nooutput: Error (open /tmp/nothing: no such file or directory)" in err
    assert err.count(".flaky: Failed (Error (exit code 1)); retry in") == 2
    assert ".flaky: Succeeded" in err


def _spec_yaml(tmp_path: Path, script: str, extra: str = "") -> tuple[Path, str]:
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "script.sh").write_text(script)
    (folder / "batch.yaml").write_text(
        "name: edits\nservice: {name: c, image: alpine, script: script.sh, cpu: 100m,"
        " memory: 64Mi, env: {GREETING: hello}}\ninput: {bucket: pics, prefix: in/}\n"
        "planning: {max_workers: 1}\n" + extra
    )
    from generator.build import workflow
    from generator.spec import model as spec

    return folder, workflow.to_yaml(spec.load(folder / "batch.yaml"))


def _pics(data: Path, n: int) -> None:
    (data / "pics" / "in").mkdir(parents=True)
    for i in range(n):
        (data / "pics" / "in" / f"{i}.jpg").write_bytes(b"x")


def test_edits_to_the_yaml_change_the_run_and_the_script_sees_only_its_environment(
    tmp_path: Path,
) -> None:
    _, text = _spec_yaml(tmp_path, 'env > "$TMP_OUTPUT_DIR/env.txt"\n')
    assert "value: hello" in text
    text = text.replace("value: hello", "value: edited")
    die = 'die() { say "$$*"; exit 1; }\n'  # as written in the YAML: Kubernetes makes $$ one $
    text = edit_runner(text, lambda sh: sh.replace(die, die + "say 'runner text edited'\n"))
    path = tmp_path / "edited.yaml"
    path.write_text(text)
    data = tmp_path / "data"
    _pics(data, 3)
    host = {"OSCAR_BATCH_HOST_SENTINEL": "leak", storage.ACCESS_ENV: "host-key-0042"}
    out = run_local(str(path), "--data-dir", str(data), "-o", "json", env=host)
    assert out.exit_code == 0, out.stderr
    rep = report(out)
    assert rep["succeeded"] == 3
    env_file = run_folder(data, rep) / "outputs" / "0.jpg" / "env.txt"
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    assert env["GREETING"] == "edited"
    assert env["HOSTNAME"].startswith("edits-") and env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    assert env["ARGO_PROGRESS_FILE"] == "/var/run/argo/progress"
    # nothing of this machine but PATH/HOME/locale, and no S3 key (a pod's worker gets none)
    assert "OSCAR_BATCH_HOST_SENTINEL" not in env
    assert not [k for k in env if k.startswith(("AWS_", "RCLONE_"))]
    assert "host-key-0042" not in env_file.read_text()
    (logs,) = (data / ".oscar-batch-logs").glob("edits*")
    assert "runner text edited" in next(logs.glob("*-worker-*-main.log")).read_text()


def test_a_worker_without_its_sidecar_sees_no_bucket(tmp_path: Path) -> None:
    _, text = _spec_yaml(tmp_path, "true\n", "worker: {mount_wait: 1}\nargo: {retries: 0}\n")
    doc = yaml.safe_load(text)
    (worker,) = [t for t in doc["spec"]["templates"] if t["name"] == "worker"]
    del worker["sidecars"]
    path = tmp_path / "nosidecar.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    data = tmp_path / "data"
    _pics(data, 3)
    out = run_local(str(path), "--data-dir", str(data), "-o", "json")
    assert out.exit_code == 1
    rep = report(out)
    assert (rep["planned"], rep["missing"], rep["succeeded"]) == (3, 3, 0)
    assert "did not appear within 1s" in out.stderr


def test_a_broken_depends_is_refused_and_a_false_one_skips_the_aggregate(tmp_path: Path) -> None:
    _, text = _spec_yaml(tmp_path, "true\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        text.replace(f"depends: {workflow.AGGREGATE_DEPENDS}", "depends: work.Finished")
    )
    data = tmp_path / "data"
    out = run_local(str(broken), "--data-dir", str(data))
    assert out.exit_code == 1
    assert "Finished" in out.stderr and not data.exists()  # refused before anything started
    false = tmp_path / "false.yaml"
    false.write_text(
        text.replace(f"depends: {workflow.AGGREGATE_DEPENDS}", "depends: work.AllFailed")
    )
    _pics(data, 2)
    out = run_local(str(false), "--data-dir", str(data), "-o", "json")
    assert out.exit_code == 0, out.stderr  # the omitted leaf inherits work's Succeeded
    assert "aggregate: Omitted (depends 'work.AllFailed' is false)" in out.stderr
    assert not list(data.rglob("report.json"))


def test_fields_not_emulated_are_refused_in_one_line_before_anything_starts(tmp_path: Path) -> None:
    doc = yaml.safe_load(FIDELITY)
    doc["spec"]["templates"].append({"name": "s", "script": {"image": "a", "source": "x"}})
    doc["spec"]["templates"][1]["memoize"] = {
        "key": "k", "maxAge": "1h", "cache": {"configMap": {"name": "c"}},
    }  # fmt: skip
    doc["spec"]["volumes"] = [{"name": "h", "hostPath": {"path": "/"}}]
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(doc))
    data = tmp_path / "data"
    out = run_local(str(path), "--data-dir", str(data))
    assert out.exit_code == 1
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"oscar-batch: {path}: not emulated by run --local: ")
    for field in (
        "spec.templates[1].memoize",
        "spec.templates[7].script",
        "spec.volumes[0].hostPath",
    ):
        assert field in line
    assert not data.exists()
    usage = run_local(str(path), "--workers", "2")
    assert usage.exit_code == 2 and "apply to a batch spec" in usage.stderr


def test_run_without_local_points_to_submit() -> None:
    out = CliRunner().invoke(app, ["run", str(WORKFLOWS / "image-stats.yaml")])
    assert out.exit_code == 2
    assert "oscar-batch submit" in out.stderr and out.stderr.count("\n") == 1


def test_the_gpu_cron_workflow_runs_over_https_with_its_secret_from_the_environment(
    tmp_path: Path,
) -> None:
    """yolov8-nightly: a CronWorkflow (run once, now) whose endpoint is https; its service
    (deepaas-cli) does not exist here, so every file fails with its reason."""
    data = tmp_path / "data"
    (data / "yolov8" / "input").mkdir(parents=True)
    for i in range(3):
        (data / "yolov8" / "input" / f"{i}.jpg").write_bytes(b"jpeg")
    out = run_local(
        str(WORKFLOWS / "yolov8-nightly.yaml"), "--data-dir", str(data), "-o", "json",
        "--node-resources", "nvidia.com/gpu=1,cpu=8", "--node-labels", "nvidia.com/gpu.present=true",
        env={"MODEL_API_KEY": "k"},
    )  # fmt: skip
    rep = report(out)
    assert "answering for https://minio.imagine.example.org" in out.stderr
    assert rep["workflow"]["name"].startswith("yolov8-nightly-")
    assert (rep["planned"], rep["failed"], rep["missing"]) == (3, 3, 0)
    assert all("deepaas-cli" in (p["error"] or "") for p in rep["problems"])
