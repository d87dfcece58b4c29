"""The defects a real cluster's gatekeepers showed (issue 19), each reproduced through
`run --local` on the generated YAML: what the local cluster refuses, a cluster refuses."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner, Result

from generator.bucket import identity
from generator.build import rbac, workflow
from generator.cli import app
from generator.spec import model as spec
from tests.conftest import write_spec
from tests.test_executor import requires_fuse, requires_unshare
from tests.test_local import _work_of

pytestmark = [requires_fuse, requires_unshare]

COPY = 'cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"\n'


def run_local(*args: str) -> Result:
    return CliRunner().invoke(app, ["run", *args, "--local", "-o", "json"])


def batch(tmp_path: Path, extra: str = "", files: int = 3, name: str = "gk") -> Path:
    """A spec over `files` inputs in the data folder's s3://pics/in/; returns the spec path."""
    data = tmp_path / "data"
    (data / "pics" / "in").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (data / "pics" / "in" / f"{i}.jpg").write_bytes(b"x")
    return write_spec(
        tmp_path / "spec",
        f"name: {name}\nservice: {{name: c, image: alpine, script: script.sh, cpu: 100m,"
        " memory: 64Mi}\ninput: {bucket: pics, prefix: in/}\n"
        + ("" if "planning:" in extra else "planning: {max_workers: 2}\n")
        + extra,
        COPY,
    )


def generated(spec_path: Path, change: Any = None) -> Path:
    """The workflow generated from the spec, with `change(doc)` applied, as a file."""
    doc = yaml.safe_load(workflow.to_yaml(spec.load(spec_path)))
    if change:
        change(doc)
    path = spec_path.parent / "workflow.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def templates(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in doc["spec"]["templates"]}


def objects(tmp_path: Path, *docs: dict[str, Any]) -> Path:
    path = tmp_path / f"objects-{len(list(tmp_path.glob('objects-*')))}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


# --- A: runAsNonRoot without runAsUser on plan/aggregate -------------------------------------


def test_a_plan_without_uid_stays_pending_on_a_default_argo_install(tmp_path: Path) -> None:
    spec_path = batch(tmp_path)

    def before_issue_19(doc: dict[str, Any]) -> None:
        for name in ("plan", "aggregate"):
            del templates(doc)[name]["securityContext"]["runAsUser"]

    data = str(tmp_path / "data")
    out = run_local(str(generated(spec_path, before_issue_19)), "--data-dir", data)
    assert out.exit_code == 1
    assert json.loads(out.stdout)["workflow"]["phase"] == "Running"  # on a cluster: for ever
    assert "stays Pending: CreateContainerConfigError: container has runAsNonRoot and image" in (
        out.stderr
    )
    assert "will run as root" in out.stderr and "container: init)" in out.stderr
    assert "set runAsUser" in out.stderr  # the remedy
    out = run_local(str(generated(spec_path)), "--data-dir", data)
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["succeeded"] == 3


# --- B: a compute ResourceQuota and no LimitRange -------------------------------------------

COMPUTE_QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "compute", "namespace": "argo"},
    "spec": {"hard": {"requests.cpu": "64", "requests.memory": "64Gi", "limits.cpu": "64",
                      "limits.memory": "64Gi"}},
}  # fmt: skip
EXECUTOR_RESOURCES = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "workflow-controller-configmap", "namespace": "argo"},
    "data": {"executor": "resources: {requests: {cpu: 10m, memory: 64Mi},"
             " limits: {cpu: 500m, memory: 256Mi}}\n"},
}  # fmt: skip


def test_b_every_container_declares_what_a_compute_quota_tracks(tmp_path: Path) -> None:
    # the spec says what the controller gives Argo's containers (the plan counts them)
    executor = (
        "planning: {max_workers: 2, executor_requests: {cpu: 10m, memory: 64Mi},"
        " executor_limits: {cpu: 500m, memory: 256Mi}}\n"
    )
    spec_path = batch(tmp_path, executor)
    data = str(tmp_path / "data")
    quota_only = objects(tmp_path, COMPUTE_QUOTA)
    # a default Argo install: its init and wait declare nothing, every pod is refused
    out = run_local(str(generated(spec_path)), "--data-dir", data, "--apply", str(quota_only))
    assert out.exit_code == 1
    assert json.loads(out.stdout)["workflow"]["phase"] in ("Error", "Failed")
    assert "failed quota: compute: must specify limits.cpu for: init,wait;" in out.stderr
    assert "executor.resources in workflow-controller-configmap" in out.stderr  # the remedy
    configured = objects(tmp_path, COMPUTE_QUOTA, EXECUTOR_RESOURCES)

    def before_issue_19(doc: dict[str, Any]) -> None:
        tpl = templates(doc)
        for c in [
            tpl["plan"]["container"],
            tpl["aggregate"]["container"],
            *tpl["worker"]["sidecars"],
        ]:
            del c["resources"]["limits"]["cpu"]

    old = generated(spec_path, before_issue_19)
    out = run_local(str(old), "--data-dir", data, "--apply", str(configured))
    assert out.exit_code == 1
    assert "must specify limits.cpu for: main" in out.stderr
    out = run_local(str(generated(spec_path)), "--data-dir", data, "--apply", str(configured))
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["succeeded"] == 3


# --- C and 5: a retried plan pod is a new pod, and its workflow still holds the lock --------


def test_c_a_retried_plan_pod_takes_its_own_workflows_lock(tmp_path: Path) -> None:
    # a service no node can hold: the plan takes the lock, then waits for room
    spec_path = batch(tmp_path, "planning: {wait_for_room: 6}\n")
    text = spec_path.read_text().replace("cpu: 100m", "cpu: '1000'")
    spec_path.write_text(text)
    data = tmp_path / "data"
    exe = Path(sys.executable).parent / "oscar-batch"
    proc = subprocess.Popen(
        [str(exe), "run", str(spec_path), "--local", "--data-dir", str(data), "-o", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    logs = data / ".oscar-batch-logs"
    deadline = time.monotonic() + 60
    first: list[Path] = []
    while not first:
        first = [p for p in logs.rglob("*-plan-*-main.log") if "waiting for room" in p.read_text()]
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.1)
    work = _work_of(proc.pid)
    assert work is not None
    pod = first[0].name.removesuffix("-main.log")
    (work / "pods" / pod / "stop").touch()  # kubectl delete pod: Argo errors it, OnError retries
    _, err = proc.communicate(timeout=120)
    assert "plan: Error (pod deleted); retry in" in err
    plans = sorted(logs.rglob("*-plan-*-main.log"), key=lambda p: p.stat().st_mtime)
    assert len(plans) >= 2
    retry = plans[1].read_text()
    # 5: a new pod, with a new name (its hostname) and its own PID namespace
    assert plans[1].name != plans[0].name
    assert "in progress" not in retry and "locked by" not in retry
    assert "waiting for room" in retry
    # the wait ended (nothing fits): the plan released its workflow's lock
    assert not list(data.rglob("lock.json"))


# --- D: a second namespace's `generate --rbac` -----------------------------------------------


def test_d_applying_another_namespaces_rbac_keeps_this_ones(tmp_path: Path) -> None:
    spec_path = batch(tmp_path, "argo: {namespace: team-a}\n")
    other = spec.load(spec_path).model_copy(deep=True)
    other = other.model_copy(update={"argo": other.argo.model_copy(update={"namespace": "team-b"})})
    rbac_b = tmp_path / "team-b-rbac.yaml"
    rbac_b.write_text(rbac.to_yaml(other))
    data = str(tmp_path / "data")
    out = run_local(str(generated(spec_path)), "--data-dir", data, "--apply", str(rbac_b))
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["succeeded"] == 3


# --- E: the sidecar's rclone gets one SIGTERM (Argo signals the whole process group) --------


def test_e_rclone_unmounts_cleanly_when_the_pod_stops_its_sidecars(tmp_path: Path) -> None:
    spec_path = batch(tmp_path, "planning: {max_workers: 8}\n", files=16)

    def verbose(doc: dict[str, Any]) -> None:  # rclone says when it got a signal and exited
        for c in templates(doc)["worker"]["sidecars"]:
            c["env"].append({"name": "RCLONE_VERBOSE", "value": "1"})

    data = tmp_path / "data"
    out = run_local(str(generated(spec_path, verbose)), "--data-dir", str(data))
    assert out.exit_code == 0, out.stderr
    logs = list((data / ".oscar-batch-logs").rglob("*-mount-*.log"))
    assert len(logs) >= 4
    for log in logs:
        text = log.read_text()
        assert "Signal received: terminated" in text
        # a second SIGTERM (the script forwarding what the group already got) killed rclone
        # before it unmounted, in about one sidecar in five. Once unmounted, rclone may end
        # before its signal handler writes "Exiting..." (once in a full suite under load):
        # the unmount is what must happen.
        assert "Unmounted rclone mount" in text, text


# --- F: a CronWorkflow's nights ---------------------------------------------------------------


def test_f_each_night_of_a_cron_workflow_is_its_own_run(tmp_path: Path) -> None:
    spec_path = batch(tmp_path, "argo: {kind: CronWorkflow, schedule: '0 2 * * *'}\n")
    night = time.strftime("%Y%m%d", time.gmtime())
    run = f"{identity.default_run(spec.load(spec_path))}-{night}"
    data = tmp_path / "data"
    out = run_local(str(generated(spec_path)), "--data-dir", str(data))
    assert out.exit_code == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["report"] == f"s3://pics/oscar-batch/{run}/report.json"
    # a file uploaded again under its old key: the next night's run processes it again,
    # the same night's (a manual submission) resumes
    out = run_local(str(generated(spec_path)), "--data-dir", str(data))
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["report"] == rep["report"]


# --- a killed aggregate (exit 137) --------------------------------------------------------------


def test_a_killed_aggregate_is_retried_and_leaves_a_report_and_no_lock(tmp_path: Path) -> None:
    spec_path = batch(tmp_path)

    def killed_once(doc: dict[str, Any]) -> None:
        # the first attempt is SIGKILLed, as the OOM killer does ({{retries}}: the attempt)
        c = templates(doc)["aggregate"]["container"]
        c["command"] = ["sh", "-c", '[ {{retries}} -ge 1 ] || kill -9 $$$$; exec "$@"', "sh",
                        *c["command"]]  # fmt: skip

    data = tmp_path / "data"
    out = run_local(str(generated(spec_path, killed_once)), "--data-dir", str(data))
    assert "aggregate: Failed (Error (exit code 137)); retry in" in out.stderr
    assert out.exit_code == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["succeeded"] == 3
    assert not list(data.rglob("lock.json"))


# --- 5. a retry is a new pod ------------------------------------------------------------------

RETRIED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: retried-}
spec:
  entrypoint: main
  templates:
  - name: main
    dag: {tasks: [{name: flaky, template: flaky}]}
  - name: flaky
    retryStrategy: {limit: 2, retryPolicy: Always, backoff: {duration: 1s}}
    container:
      image: alpine
      command: [sh, -c, 'echo "$(uname -n) $$$$"; test {{retries}} -ge 2']
"""


def test_5_each_retry_is_a_new_pod_name_hostname_and_pid_namespace(tmp_path: Path) -> None:
    path = tmp_path / "retried.yaml"
    path.write_text(RETRIED)
    data = tmp_path / "data"
    out = run_local(str(path), "--data-dir", str(data), "--time-scale", "0.01")
    assert out.exit_code == 0, out.stderr
    logs = sorted((data / ".oscar-batch-logs").rglob("*-flaky-*-main.log"))
    said = [log.read_text().split() for log in logs]
    assert len(said) == 3
    pods = [log.name.removesuffix("-main.log") for log in logs]
    assert sorted(host for host, _ in said) == sorted(pods)  # hostname = the pod's name
    # a PID namespace each: numbering starts over (namespace inodes are reused once freed,
    # so they prove nothing for pods that run one after the other)
    assert all(int(pid) < 100 for _, pid in said), said


# --- the strictest namespace a generated workflow can use ----------------------------------

RESTRICTED_NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "argo", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
}
LOCKED_DOWN_EXECUTOR = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "workflow-controller-configmap", "namespace": "argo"},
    "data": {"executor": "securityContext: {runAsNonRoot: true, runAsUser: 8737,"
             " allowPrivilegeEscalation: false, capabilities: {drop: [ALL]},"
             " seccompProfile: {type: RuntimeDefault}}\n"},
}  # fmt: skip


def test_under_restricted_the_stages_run_and_the_sidecar_is_refused_as_a_cluster_does(
    tmp_path: Path,
) -> None:
    spec_path = batch(tmp_path)
    cluster = objects(tmp_path, RESTRICTED_NAMESPACE, LOCKED_DOWN_EXECUTOR)
    data = tmp_path / "data"
    out = run_local(str(generated(spec_path)), "--data-dir", str(data), "--apply", str(cluster))
    assert out.exit_code == 1
    # the plan ran (its uid, seccomp and Argo's locked-down init/wait pass `restricted`)
    assert "plan: Succeeded" in out.stderr
    assert 'violates PodSecurity "restricted:latest": privileged (containers "mount-0",' in (
        out.stderr
    )
    assert "label the namespace pod-security.kubernetes.io/enforce=privileged" in out.stderr
    rep = json.loads(out.stdout)
    assert (rep["planned"], rep["missing"]) == (3, 3)  # the aggregate accounts for them


def test_d_applying_a_spec_without_kueue_keeps_the_kueue_specs_rights(tmp_path: Path) -> None:
    spec_path = batch(tmp_path, "planning: {max_workers: 2, kueue_queue: team-q}\n")
    plain = spec.load(spec_path)
    plain = plain.model_copy(
        update={"planning": plain.planning.model_copy(update={"kueue_queue": None})}
    )
    queues = [
        {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "LocalQueue",
         "metadata": {"name": "team-q", "namespace": "argo"}, "spec": {"clusterQueue": "cq"}},
        {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ClusterQueue", "metadata": {"name": "cq"},
         "spec": {"resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [
             {"name": "default", "resources": [{"name": "cpu", "nominalQuota": "8"},
                                               {"name": "memory", "nominalQuota": "16Gi"}]}]}]},
         "status": {"flavorsUsage": []}},
    ]  # fmt: skip
    applied = objects(tmp_path, *queues)
    plain_rbac = tmp_path / "plain-rbac.yaml"
    plain_rbac.write_text(rbac.to_yaml(plain))
    data = tmp_path / "data"
    out = run_local(
        str(generated(spec_path)), "--data-dir", str(data),
        "--apply", str(applied), "--apply", str(plain_rbac),
    )  # fmt: skip
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["succeeded"] == 3


def test_an_aggregate_killed_every_time_still_gives_the_lock_back(tmp_path: Path) -> None:
    spec_path = batch(tmp_path)

    def always_killed(doc: dict[str, Any]) -> None:
        c = templates(doc)["aggregate"]["container"]
        c["command"] = ["sh", "-c", 'kill -9 $$$$; exec "$@"', "sh", *c["command"]]

    data = tmp_path / "data"
    out = run_local(
        str(generated(spec_path, always_killed)), "--data-dir", str(data), "--time-scale", "0.01"
    )
    assert out.exit_code == 1
    assert "aggregate: Failed (No more retries left)" in out.stderr
    # the workflow failed: the exit handler's release task ran its pod
    assert "onExit.release: Succeeded" in out.stderr
    assert not list(data.rglob("lock.json"))
    # so the next submission of the run is not refused as "in progress"
    out = run_local(str(generated(spec_path)), "--data-dir", str(data))
    assert out.exit_code == 0, out.stderr
