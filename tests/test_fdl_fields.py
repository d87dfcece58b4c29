"""The whole FDL and what people type, through the CLI: each OSCAR field used or refused by name.

Generated workflows are read back as YAML and checked where a user would look (the worker
template); refusals are one line on stderr with exit 1 (issue 11).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator.build import workerpod
from generator.cli import app
from generator.spec import fdl
from generator.spec import model as spec
from tests.conftest import write_spec
from tests.test_spec_hostile import SPEC, one_line_error

runner = CliRunner()

SERVICE = """\
functions:
  oscar:
  - oscar-cluster:
      name: detector
      image: ghcr.io/x/detector:1
      script: script.sh
      cpu: '1.0'
      memory: 1Gi
{extra}
"""
INPUT = """\
      input:
      - storage_provider: minio.default
        path: images/in
"""


def fdl_spec(tmp_path: Path, extra: str, spec_extra: str = "") -> Path:
    (tmp_path / "f.yaml").write_text(SERVICE.format(extra=extra))
    return write_spec(tmp_path, f"name: t\nservice: {{fdl: f.yaml}}\n{spec_extra}")


def generate(spec: Path, *sets: str) -> dict[str, Any]:
    args = ["generate", str(spec)]
    for item in sets:
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = yaml.safe_load(result.stdout)
    return doc


def worker(doc: dict[str, Any]) -> dict[str, Any]:
    (tpl,) = [t for t in doc["spec"]["templates"] if t["name"] == "worker"]
    return tpl


def spec_json(doc: dict[str, Any]) -> dict[str, Any]:
    (tpl,) = [t for t in doc["spec"]["templates"] if t["name"] == "plan"]
    loaded: dict[str, Any] = yaml.safe_load(tpl["inputs"]["artifacts"][0]["raw"]["data"])
    return loaded


def env_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The environment of the service script's container."""
    service = next(s for s in worker(doc)["sidecars"] if s["name"] == "service")
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in service["env"]}


def test_fields_are_partitioned_and_cover_oscars_service_type() -> None:
    sets = [fdl.USED_FIELDS, fdl.INERT_FIELDS, frozenset(fdl.REFUSED_FIELDS)]
    assert sum(len(s) for s in sets) == len(fdl.OSCAR_SERVICE_FIELDS)
    # the json tags of oscar/pkg/types/service.go's Service (yaml:"-" ones excluded)
    oscar = {
        "name", "cluster_id", "memory", "cpu", "total_memory", "total_cpu",
        "ephemeral_storage_request", "enable_gpu", "enable_sgx", "image_prefetch",
        "synchronous", "federation", "log_level", "image", "alpine", "token", "file_stage_in",
        "input", "output", "script", "image_pull_secrets", "expose", "environment",
        "annotations", "vo", "labels", "storage_providers", "clusters", "owner",
        "interlink_node_name", "visibility", "allowed_users", "isolation_level", "bucket_list",
        "mount", "volume", "kserve", "replicas", "rescheduler_threshold", "kube_secret_name",
    }  # fmt: skip
    assert oscar <= fdl.OSCAR_SERVICE_FIELDS


def test_lowercase_variables_read_as_oscar_cli_reads_them(tmp_path: Path) -> None:
    """oscar-cli's Go decoder types a plain scalar, then prints it into the string: `1.0`
    becomes "1", `1.10` "1.1" (spec/goyaml.py); text it does not type stays as written."""
    extra = (
        INPUT
        + "      environment:\n        variables: {A: false, B: 1.0, C: 7, D: yes-no, E: 1.10}\n"
    )
    env = env_of(generate(fdl_spec(tmp_path, extra)))
    assert (env["A"], env["B"], env["C"], env["D"], env["E"]) == (
        "false",
        "1",
        "7",
        "yes-no",
        "1.1",
    )
    # a spec is ours: its env values keep YAML's spelling
    inline = SPEC.replace("script: script.sh", "script: script.sh, env: {R: 0.50}")
    env = env_of(generate(write_spec(tmp_path, inline), "service.env.S=2.00"))
    assert (env["R"], env["S"]) == ("0.50", "2.00")


@pytest.mark.parametrize("value", ["[1, 2]", "{k: v}"])
def test_lists_and_maps_as_env_values_are_refused(tmp_path: Path, value: str) -> None:
    extra = INPUT + f"      environment:\n        Variables: {{A: {value}}}\n"
    assert "A: environment values are text" in one_line_error(
        ["generate", str(fdl_spec(tmp_path, extra))]
    )


def test_pull_secrets_filters_mount_and_volume_reach_the_worker(tmp_path: Path) -> None:
    extra = (
        INPUT.replace("path: images/in", "path: images/in\n        suffix: [.jpg, .png]")
        + "      image_pull_secrets: [regcred]\n"
        + "      mount: {storage_provider: minio, path: models/yolo}\n"
        + "      volume: {name: cache, size: 1Gi, mount_path: /cache}\n"
        + "      output: [{storage_provider: minio, path: results/out}]\n"
    )
    path = fdl_spec(tmp_path, extra)
    doc = generate(path, "service.workdir=/app")
    # the planner sizes the same pod: the runner, the service, one rclone sidecar per bucket,
    # Argo's wait
    containers = workerpod.pod_spec(spec.load(path))["containers"]
    names = ["main", "service", "mount-0", "mount-1", "mount-2", "wait"]
    assert [c["name"] for c in containers] == names
    assert doc["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec_json(doc)["input"]["include"] == ["*.jpg", "*.png"]
    tpl = worker(doc)
    service = tpl["sidecars"][0]
    # the runner's container: the input and the run's folder; the script's: the input, the
    # FDL's mount bucket and volume, never the run's folder
    mounts = {v["mountPath"] for v in tpl["container"]["volumeMounts"]}
    assert {"/mnt/images", "/mnt/.oscar-batch/results"} <= mounts
    assert not {"/mnt/models", "/cache"} & mounts
    mounts = {v["mountPath"] for v in service["volumeMounts"]}
    assert {"/mnt/images", "/mnt/models", "/cache"} <= mounts
    assert "/mnt/.oscar-batch/results" not in mounts
    assert len(tpl["sidecars"]) == 4  # the service, then input, output and the FDL's mount bucket
    claims = [v for v in tpl["volumes"] if "persistentVolumeClaim" in v]
    assert claims == [{"name": "service-volume", "persistentVolumeClaim": {"claimName": "cache"}}]
    assert service["workingDir"] == "/app" and "workingDir" not in tpl["container"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("      expose: {api_port: 8080}\n", "expose: an exposed service is a long-running"),
        ("      kserve: {storage_uri: s3://m}\n", "kserve: a KServe InferenceService"),
        ("      federation: {group_id: g}\n", "federation:"),
        ("      interlink_node_name: vk\n", "interlink_node_name: interLink"),
        ("      ephemeral_storage_request: 1Gi\n", "ephemeral_storage_request:"),
        ("      enable_sgx: true\n", "enable_sgx:"),
        ("      inptu: []\n", "unknown OSCAR service field 'inptu'; did you mean 'input'?"),
        (INPUT.replace("minio.default", "s3.aws"), "'s3.aws' is not OSCAR's default MinIO"),
        (INPUT.replace("minio.default", "minio.edge"), "'minio.edge' is not OSCAR's default"),
        (INPUT + "      mount: {path: b/x, options: --fast}\n", "rclone mount flags"),
        ("", "input.bucket: required: the FDL's service has no input or mount path"),
    ],
)
def test_fields_a_batch_run_cannot_honour_are_refused(
    tmp_path: Path, extra: str, message: str
) -> None:
    assert message in one_line_error(["generate", str(fdl_spec(tmp_path, extra))])


def test_docker_scheme_images_are_refused(tmp_path: Path) -> None:
    spec = fdl_spec(tmp_path, INPUT)
    (tmp_path / "f.yaml").write_text(
        (tmp_path / "f.yaml").read_text().replace("ghcr.io/x/detector:1", "docker://x/y")
    )
    assert "kubelet cannot pull it; write 'x/y'" in one_line_error(["generate", str(spec)])


def test_a_glob_typed_bare_works(tmp_path: Path) -> None:
    doc = generate(write_spec(tmp_path, SPEC), "input.include=*.jpg", "input.exclude=tmp/*")
    assert spec_json(doc)["input"]["include"] == ["*.jpg"]
    assert spec_json(doc)["input"]["exclude"] == ["tmp/*"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("input.include=[*.jpg]", """quote the items: --set 'input.include=["*.jpg", "*.png"]'"""),
        ("service.image=@x", "service.image: '@x' is not an image reference"),
        ("a.b.0=v", "(top level): unknown key 'a'"),
        ("planning.tolerations.3.key=x", "planning.tolerations is a list of 0"),
        ("input.bucket=MyBucket", "'MyBucket' is not a valid bucket name: 3-63 lowercase"),
        ("inptu.bucket=x", "unknown key 'inptu'; did you mean 'input'?"),
        ("input.inclde=x", "input: unknown key 'inclde'; did you mean 'include'?"),
        ("planning..x=1", "expected key.path=value"),
    ],
)
def test_what_people_type_gets_one_clear_line(tmp_path: Path, item: str, message: str) -> None:
    spec = write_spec(tmp_path, SPEC + "planning: {tolerations: []}\n")
    assert message in one_line_error(["generate", str(spec), "--set", item])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02\xff binary", "is not UTF-8 text"),
        ("name: d\u00e9mo\n".encode("latin-1"), "is not UTF-8 text"),
        (SPEC.encode() + b"name: again\n", "duplicate key 'name'"),
    ],
)
def test_unreadable_specs_say_why(tmp_path: Path, content: bytes, message: str) -> None:
    path = write_spec(tmp_path, "")
    path.write_bytes(content)
    assert message in one_line_error(["generate", str(path)])


def test_an_inline_service_is_named_after_the_spec(tmp_path: Path) -> None:
    doc = generate(write_spec(tmp_path, SPEC))
    assert spec_json(doc)["service"]["name"] == "demo"
