"""The generated workflow: shape, pod wiring, secrets, determinism, and that it lints clean."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import lint
from generator.bucket import identity
from generator.build import runner_script as runner
from generator.build import workerpod, workflow
from generator.spec import model as spec
from tests.conftest import EXAMPLES, write_spec


@pytest.fixture(scope="module")
def fish() -> spec.BatchSpec:
    return spec.load(EXAMPLES / "fish-detector" / "batch.yaml")


@pytest.fixture(scope="module")
def doc(fish: spec.BatchSpec) -> dict[str, Any]:
    return yaml.safe_load(workflow.to_yaml(fish))


def _template(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in doc["spec"]["templates"] if t["name"] == name)


def test_three_stages_fan_out_over_shard_ids(doc: dict[str, Any]) -> None:
    tasks = {t["name"]: t for t in _template(doc, "main")["dag"]["tasks"]}
    assert list(tasks) == ["plan", "work", "aggregate"]
    assert tasks["work"]["withParam"] == "{{tasks.plan.outputs.parameters.shards}}"
    assert tasks["work"]["depends"] == "plan"
    assert tasks["work"]["arguments"]["parameters"] == [{"name": "shard", "value": "{{item}}"}]
    # runs after partial failure, without the depends+continueOn combination Argo rejects
    assert tasks["aggregate"]["depends"] == workflow.AGGREGATE_DEPENDS
    assert "continueOn" not in tasks["aggregate"]
    plan_out = _template(doc, "plan")["outputs"]["parameters"][0]
    assert plan_out["valueFrom"]["path"].startswith("/tmp/")


def test_worker_pod_runs_the_script_in_its_own_container_with_mount_sidecars(
    doc: dict[str, Any],
) -> None:
    worker = _template(doc, "worker")
    main = worker["container"]  # the runner
    assert main["image"] == "dialdroid/fish-detector:lite"
    assert main["command"][:2] == ["sh", "-c"]
    assert main["resources"] == workerpod.RUNNER_RESOURCES
    # the input read-only at OSCAR's path, only the run's folder read-write for the runner
    points = ["/mnt/fish-detector", "/mnt/.oscar-batch/fish-detector"]
    remotes = ["s3:fish-detector", "s3:fish-detector/output/{{workflow.parameters.run}}"]
    buckets = [
        {"name": f"bucket-{i}", "mountPath": p, "mountPropagation": "HostToContainer"}
        for i, p in enumerate(points)
    ]
    assert main["volumeMounts"] == [
        {"name": "oscar-batch-ctl", "mountPath": "/oscar-batch/ctl"},
        {"name": "oscar-batch-work", "mountPath": "/oscar-batch/work", "readOnly": True},
        {"name": "oscar-batch-config", "mountPath": "/oscar-batch/config"},
        *buckets,
    ]
    service, reads, writes = worker["sidecars"]
    # the script's container: the service's image and resources, the input, no run folder
    assert service["name"] == "service" and service["image"] == main["image"]
    assert service["resources"]["requests"] == {"cpu": "1.0", "memory": "3Gi"}
    assert service["resources"]["limits"] == service["resources"]["requests"]
    assert service["volumeMounts"] == [
        {"name": "oscar-batch-ctl", "mountPath": "/oscar-batch/ctl", "readOnly": True},
        {"name": "oscar-batch-work", "mountPath": "/oscar-batch/work"},
        {"name": "oscar-batch-config", "mountPath": "/oscar/config", "readOnly": True},
        buckets[0],
    ]
    for sidecar, point, remote in zip((reads, writes), points, remotes, strict=True):
        assert sidecar["image"].startswith("rclone/rclone:")
        assert sidecar["securityContext"] == {"privileged": True}
        assert sidecar["volumeMounts"][0]["mountPropagation"] == "Bidirectional"
        rclone_args = sidecar["command"][5:]  # sh -c SCRIPT $0 POINT, then rclone's arguments
        assert sidecar["command"][4] == point
        assert rclone_args[:3] == ["mount", remote, point]
        assert rclone_args[3:5] == ["--vfs-cache-mode", "off"]
    assert "--read-only" in reads["command"] and "--read-only" not in writes["command"]
    assert worker["volumes"] == [
        *({"name": f"bucket-{i}", "emptyDir": {}} for i in range(2)),
        *({"name": name, "emptyDir": {}} for name in ("oscar-batch-ctl", "oscar-batch-work",
                                                        "oscar-batch-config")),
    ]  # fmt: skip
    assert worker["retryStrategy"]["limit"] == 3
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["OSCAR_BATCH_RUN_DIR"] == ("/mnt/.oscar-batch/fish-detector")
    assert env["OSCAR_BATCH_INPUT_DIR"] == "/mnt/fish-detector/input"
    assert env["OSCAR_BATCH_SHARD"] == "{{inputs.parameters.shard}}"
    assert "BUCKET_DIR" not in env  # the service's environment is the service container's
    service_env = {e["name"]: e.get("value") for e in service["env"]}
    assert service_env["BUCKET_DIR"] == "/mnt/fish-detector"
    assert service_env["OSCAR_BATCH_SCRIPT"] == workflow.SCRIPT_PATH
    script = worker["inputs"]["artifacts"][0]
    assert script["path"] == workflow.SCRIPT_PATH and "detect.py" in script["raw"]["data"]


def test_ui_metadata(doc: dict[str, Any], fish: spec.BatchSpec) -> None:
    meta = doc["metadata"]
    assert meta["generateName"] == "obsea-fish-"
    assert "fish-detector" in meta["annotations"]["workflows.argoproj.io/title"]
    assert "s3://fish-detector/input/" in meta["annotations"]["workflows.argoproj.io/description"]
    assert meta["labels"]["oscar-batch/service"] == "fish-detector"
    assert doc["spec"]["podMetadata"]["labels"] == {"oscar-batch/spec": "obsea-fish"}
    assert doc["spec"]["arguments"]["parameters"][0] == {
        "name": "run",
        "value": identity.default_run(fish),
        "description": "run name: a new name starts over, the same name resumes",
    }


def test_same_input_same_bytes(fish: spec.BatchSpec) -> None:
    assert workflow.to_yaml(fish) == workflow.to_yaml(
        spec.load(EXAMPLES / "fish-detector" / "batch.yaml")
    )


def test_argo_expressions_survive_the_jinja_template(fish: spec.BatchSpec) -> None:
    text = runner.render(["/mnt/x"])
    assert "{{" not in text  # the runner reads everything from env; Argo fills the env values
    # no jinja statement or comment left (the shell's own `${#var}` is not one)
    assert "{%" not in text and not re.search(r"\{#.*?#\}", text)
    rendered = workflow.to_yaml(fish)
    assert "'{{workflow.parameters.run}}'" in rendered
    braces = set(re.findall(r"\{\{[^}]*\}\}", rendered))
    assert braces == {
        "{{workflow.parameters.run}}",
        "{{workflow.parameters.force}}",
        "{{workflow.parameters.resume_other_version}}",
        "{{workflow.uid}}",
        "{{workflow.status}}",  # the exit handler's `when`
        "{{inputs.parameters.shard}}",
        "{{tasks.plan.outputs.parameters.shards}}",
        "{{item}}",
        # the aggregate's metrics read its own output parameters
        "{{outputs.parameters.succeeded}}",
        "{{outputs.parameters.failed}}",
        "{{outputs.parameters.missing}}",
        "{{outputs.parameters.files_per_second}}",
        "{{outputs.parameters.wall_seconds}}",
    }


SECRETS_SPEC = """
name: secretive
service:
  name: svc
  image: alpine:3
  script: script.sh
  secrets: [API_TOKEN]
input: {endpoint: "http://minio.minio:9000", bucket: data, credentials_secret: s3-keys}
output: {bucket: results}
"""


def test_secrets_are_references_only(tmp_path: Path) -> None:
    s = spec.load(write_spec(tmp_path, SECRETS_SPEC))
    text = workflow.to_yaml(s)
    doc = yaml.safe_load(text)
    worker = _template(doc, "worker")
    service, *mounts = worker["sidecars"]
    # the service's secrets reach the script's container only, never the runner's
    token = next(e for e in service["env"] if e["name"] == "API_TOKEN")
    assert token == {
        "name": "API_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "svc-secrets", "key": "API_TOKEN"}},
    }
    assert not [e for e in worker["container"]["env"] if "valueFrom" in e]
    keys = [e for e in mounts[0]["env"] if "valueFrom" in e]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in keys} == {"s3-keys"}
    # two buckets: two sidecars, each its own emptyDir
    assert [c["command"][6] for c in mounts] == [
        "s3:data",
        "s3:results/oscar-batch/{{workflow.parameters.run}}",
    ]
    assert lint.lint_text(text, "secretive.yaml") == []


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        ("argo: {kind: WorkflowTemplate}\n", "WorkflowTemplate"),
        ("argo: {kind: CronWorkflow, schedule: '0 3 * * *'}\n", "CronWorkflow"),
        ("service: {name: g, image: cuda, script: script.sh, gpu: 2}\n", "Workflow"),
    ],
)
def test_every_kind_lints_clean(tmp_path: Path, extra: str, kind: str) -> None:
    base = "name: k\ninput: {bucket: data}\n"
    text = base + (
        ""
        if extra.startswith("service")
        else "service: {name: s, image: alpine, script: script.sh}\n"
    )
    s = spec.load(write_spec(tmp_path, text + extra))
    rendered = workflow.to_yaml(s)
    doc = yaml.safe_load(rendered)
    assert doc["kind"] == kind
    assert lint.lint_text(rendered, "k.yaml") == []
    if kind == "Workflow" and "gpu" in extra:
        limits = _template(doc, "worker")["sidecars"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "2"


def test_workflow_size_does_not_depend_on_the_bucket(fish: spec.BatchSpec) -> None:
    # file lists never enter the workflow: only the spec and the worker's scripts (~100 KB: the
    # runner's three invocation modes, claimed units and OSCAR's layout, the service
    # dispatcher and its watchdog) do, far inside etcd's 1 MiB
    assert len(workflow.to_yaml(fish)) < 150_000


@pytest.mark.parametrize(
    ("service", "cluster"), [("detector", "cluster-a"), ("detector", "cluster-b"), ("cowsay", None)]
)
def test_specs_from_a_multi_service_fdl_generate_and_lint_clean(
    tmp_path: Path, service: str, cluster: str | None
) -> None:
    from tests.test_fdl import MULTI

    (tmp_path / "services.fdl.yaml").write_text(MULTI)
    (tmp_path / "script.sh").write_text("echo hi\n")
    pick = f"{{fdl: services.fdl.yaml, name: {service}" + (
        f", cluster: {cluster}}}" if cluster else "}"
    )
    (tmp_path / "batch.yaml").write_text(
        f"name: multi\nservice: {pick}\ninput: {{bucket: archive}}\n"
    )
    text = workflow.to_yaml(spec.load(tmp_path / "batch.yaml"))
    assert lint.lint_text(text, "multi.yaml") == []
    assert "super-secret-value-123" not in text


def test_skip_existing_flag_reaches_the_runner_env(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from generator.cli import app

    out = (
        CliRunner()
        .invoke(
            app, ["generate", str(EXAMPLES / "image-stats" / "batch.yaml"), "--no-skip-existing"]
        )
        .stdout
    )
    env = {
        e["name"]: e.get("value")
        for e in _template(yaml.safe_load(out), "worker")["container"]["env"]
    }
    assert env["OSCAR_BATCH_SKIP_EXISTING"] == "0"
