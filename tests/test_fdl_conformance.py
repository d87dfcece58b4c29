"""Conformance: every service of the real OSCAR FDLs in tests/data/oscar (see its SOURCES).

Each either generates a workflow that lints clean, whose worker environment follows OSCAR's
supervisor (its per-file variable names set by the runner, the FDL's variables as written,
secrets only as secretKeyRef), or is refused with one named reason. The table below is the
closing note's table: (FDL, cluster, service) -> None (generated) or the reason's words.
A stub stands in for each script here; tests/test_oscar_conformance.py runs the published
scripts whose commands exist on this machine.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator import lint
from generator.cli import app
from generator.spec.yamlfile import read_text

DATA = Path(__file__).parent / "data" / "oscar"
runner = CliRunner()
# the variables OSCAR's supervisor gives a script for each file (faas-supervisor
# faassupervisor/supervisor.py and faas/binary/supervisor.py; oscar pkg/types/service.go)
OSCAR_VARIABLES = (
    "INPUT_FILE_PATH", "TMP_INPUT_DIR", "TMP_OUTPUT_DIR", "STORAGE_OBJECT_KEY", "EVENT", "JOB_UUID",
)  # fmt: skip

EXPECTED: list[tuple[str, str, str, str | None]] = [
    (
        "oscar/examples/body-pose-detection/body-pose-detection-async.yaml",
        "oscar-cluster",
        "body-pose-detection-async",
        None,
    ),
    ("oscar/examples/compss/c/workflow.yaml", "oscar-cluster", "increment-compss-c", None),
    ("oscar/examples/compss/java/workflow.yaml", "oscar-cluster", "simple-compss-java", None),
    (
        "oscar/examples/compss/python/workflow.yaml",
        "oscar-cluster",
        "wordcount-compss-python",
        None,
    ),
    ("oscar/examples/cowsay/cowsay.yaml", "oscar-replica", "cowsay", "input.bucket: required"),
    (
        "oscar/examples/dog-breed-detector/dog-breed.yaml",
        "oscar-cluster",
        "dog-breed-detector",
        None,
    ),
    (
        "oscar/examples/expose_services/deep/deep_expose.yaml",
        "oscar-cluster",
        "dogs-breed",
        "expose: an exposed service",
    ),
    (
        "oscar/examples/expose_services/jupyter/jupyter_expose.yaml",
        "oscar-cluster",
        "jupyter",
        "expose: an exposed service",
    ),
    (
        "oscar/examples/expose_services/jupyter/jupyter_expose_mount.yaml",
        "oscar-cluster",
        "jupyter",
        "expose: an exposed service",
    ),
    (
        "oscar/examples/expose_services/nginx/nginx_expose.yaml",
        "oscar-cluster",
        "nginx2",
        "expose: an exposed service",
    ),
    (
        "oscar/examples/expose_services/openclaw/openclaw_expose.yaml",
        "oscar-cluster",
        "openclaw-gateway",
        "expose: an exposed service",
    ),
    (
        "oscar/examples/expose_services/openclaw/openclaw_expose_workspace.yaml",
        "oscar-cluster",
        "openclaw-volume",
        "expose: an exposed service",
    ),
    (
        "oscar/examples/fire-detection/fire_detection.yaml",
        "oscar-cluster",
        "fire-detection",
        "environment values are text, not a list",
    ),
    (
        "oscar/examples/fire-detection/fire_detection_replicas.yaml",
        "oscar-cluster-edge",
        "fire-detection",
        "environment values are text, not a list",
    ),
    (
        "oscar/examples/fire-detection/fire_detection_replicas.yaml",
        "oscar-cluster",
        "fire-detection",
        "environment values are text, not a list",
    ),
    ("oscar/examples/fish-detector/fish-detector-zip.yaml", "oscar-eu", "fish-detector-zip", None),
    ("oscar/examples/fish-detector/fish-detector.yaml", "oscar-eu", "fish-detector", None),
    ("oscar/examples/fish-detector-replicas/fish-eu.yaml", "oscar-eu", "fish-detector", None),
    (
        "oscar/examples/fish-detector-replicas/fish-us.yaml",
        "oscar-us",
        "fish-detector",
        "output: 2 storage paths",
    ),
    ("oscar/examples/imagemagick/imagemagick.yaml", "oscar-cluster", "grayify", None),
    (
        "oscar/examples/kserve-isvc-sklearn/oscar-svc-sklearn.yaml",
        "oscar-kserve-y2m",
        "kserve-isvc-sklearn",
        "kserve: a KServe InferenceService",
    ),
    (
        "oscar/examples/kserve-isvc-yolo/oscar-svc-yolo8n.yaml",
        "oscar-kserve-y2m",
        "kserve-isvc-yolo8n-onnx",
        "kserve: a KServe InferenceService",
    ),
    (
        "oscar/examples/kserve-llmisvc-qwen2-5/fdl.yaml",
        "oscar-kserve-y2m",
        "qwen2-5-05b-instruct",
        "kserve: a KServe InferenceService",
    ),
    (
        "oscar/examples/mask-detector-workflow/mask-detector-workflow.yaml",
        "my_oscar",
        "anon-and-split",
        None,
    ),
    (
        "oscar/examples/mask-detector-workflow/mask-detector-workflow.yaml",
        "my_oscar",
        "mask-detector",
        None,
    ),
    ("oscar/examples/mount/grayify-mount.yaml", "oscar-cluster", "grayifymount", None),
    (
        "oscar/examples/plant-classification-sync/plant-classification-sync.yaml",
        "oscar-cluster",
        "plant-classification-sync",
        "input.bucket: required",
    ),
    (
        "oscar/examples/plant-classification-theano/plant-classification-theano.yaml",
        "oscar-cluster",
        "plants",
        None,
    ),
    (
        "oscar/examples/plants-classification-tensorflow/plants-classification.yaml",
        "oscar-cluster",
        "plants-classification",
        None,
    ),
    ("oscar/examples/radiomics/radiomics.yaml", "oscar-cluster", "radiomics", None),
    (
        "oscar/examples/rucio/rucio-service.yaml",
        "oscar-cluster",
        "rucio-example",
        "script: required",
    ),
    (
        "oscar/examples/secrets-usage/secret-usage.yaml",
        "oscar-replica",
        "cowsay-secret",
        "input.bucket: required",
    ),
    ("oscar/examples/simple-test/simple-test.yaml", "oscar-cluster", "simple-test", None),
    ("oscar/examples/sleep-test/sleep-test.yaml", "oscar-cluster", "sleep-test", None),
    (
        "oscar/examples/stable-diffusion/stable-diff.yaml",
        "oscar-intertwin",
        "stable-diffusion-tf",
        None,
    ),
    (
        "oscar/examples/text-to-speech-coqui/text-to-speech-coqui.yaml",
        "oscar-cluster",
        "text-to-speech-coqui",
        None,
    ),
    (
        "oscar/examples/text-to-speech-google/text-to-speech-google.yaml",
        "oscar-cluster",
        "text-to-speech-google",
        None,
    ),
    (
        "oscar/examples/thermal-detector-interlink/thermal-detector-interlink.yaml",
        "oscar-cluster",
        "thermal-detector-interlink",
        "interlink_node_name: interLink",
    ),
    ("oscar/examples/video-process/video-process.yaml", "oscar-cluster", "split-video", None),
    ("oscar/examples/video-process/video-process.yaml", "oscar-cluster", "darknet", None),
    (
        "oscar/examples/vllm-deepseek/vllm.yaml",
        "oscar-cluster",
        "vllm-gpu-deepseek-coder-1-3b",
        "expose: an exposed service",
    ),
    (
        "oscar/examples/vllm-llama/vllm_llama.yaml",
        "oscar-cluster",
        "vllm-gpu-llama",
        "expose: an exposed service",
    ),
    (
        "oscar/examples/volumes/volume-demo.yaml",
        "oscar-cluster",
        "volume-demo",
        "input.bucket: required",
    ),
    ("oscar/examples/yolov8/yolov8.yaml", "oscar-cluster", "yolov8", None),
    (
        "oscar-batch/examples/obsea-fish-detector/fish-detector.yaml",
        "oscar-cluster",
        "fish-detector",
        None,
    ),
    ("oscar-cli/example-workflow/example-workflow.yaml", "oscar-test", "plants", None),
    ("oscar-cli/example-workflow/example-workflow.yaml", "oscar-test", "grayify", None),
    ("oscar-hub/crates/cowsay/fdl.yml", "oscar-replica", "cowsay", "input.bucket: required"),
    ("oscar-hub/crates/fish-detector/fdl.yml", "oscar-eu", "fish-detector", None),
    ("oscar-hub/crates/imagemagick/fdl.yml", "oscar-cluster", "imagemagick", None),
    ("oscar-hub/crates/kokoro-tts/fdl.yml", "oscar-cluster", "kokoro-tts", None),
    (
        "oscar-hub/crates/plants-classification/fdl.yml",
        "oscar-cluster",
        "plants-classification",
        None,
    ),
    (
        "oscar-hub/crates/posenet-tf/fdl.yml",
        "oscar-cluster",
        "posenet-tf",
        "expose: an exposed service",
    ),
    ("oscar-hub/crates/simple-test/fdl.yml", "oscar-cluster", "simple-test", None),
    ("oscar-hub/crates/stress-test/fdl.yml", "oscar-cluster", "stress-test", None),
    (
        "oscar-hub/crates/vllm-llama/fdl.yml",
        "oscar-cluster",
        "vllm-gpu-llama",
        "expose: an exposed service",
    ),
    ("oscar-hub/crates/vosk-stt/fdl.yml", "oscar-cluster", "vosk-stt", None),
    ("oscar-hub/crates/yolov8/fdl.yml", "oscar-cluster", "yolov8", None),
    (
        "oscar-hub/template/fdl.yml",
        "oscar-service",
        "your-service-name",
        "storage_provider: 'your-storage-provider' is not OSCAR's default MinIO",
    ),
]


def _text(fdl: Path) -> str:
    """The FDL as OSCAR's Go parser reads it: trailing tabs (real FDLs have them) ignored."""
    return re.sub(r"[ \t]+$", "", read_text(fdl), flags=re.MULTILINE)


def _service(fdl: Path, cluster: str, name: str) -> dict[str, Any]:
    doc = yaml.safe_load(_text(fdl))
    (found,) = [
        s
        for e in doc["functions"]["oscar"]
        for c, s in e.items()
        if (c, s["name"]) == (cluster, name)
    ]
    return dict(found)


def _raw_variables(fdl: Path, cluster: str, name: str) -> dict[str, str]:
    """The FDL's variables as their text was written (YAML nodes, not parsed values)."""
    root = yaml.compose(_text(fdl))
    mapping = {k.value: v for k, v in root.value}
    for entry in {k.value: v for k, v in mapping["functions"].value}["oscar"].value:
        ((c_node, svc),) = entry.value
        fields = {k.value: v for k, v in svc.value}
        if c_node.value != cluster or fields["name"].value != name:
            continue
        env = (
            {k.value: v for k, v in fields["environment"].value} if "environment" in fields else {}
        )
        variables = env.get("variables") or env.get("Variables")
        return {k.value: v.value for k, v in variables.value} if variables else {}
    raise AssertionError(f"{cluster}/{name} not in {fdl}")


def _setup(tmp_path: Path, rel: str, cluster: str, name: str, extra: str = "") -> Path:
    fdl = DATA / rel
    shutil.copy(fdl, tmp_path / "f.yaml")
    script = _service(fdl, cluster, name).get("script")
    if isinstance(script, str):
        (tmp_path / script).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / script).write_text('#!/bin/sh\necho "$INPUT_FILE_PATH"\n')
    spec = tmp_path / "batch.yaml"
    spec.write_text(
        f"name: conformance\nservice: {{fdl: f.yaml, name: {name}, cluster: {cluster}}}\n{extra}"
    )
    return spec


def test_every_copied_fdl_is_in_the_table_and_in_sources() -> None:
    files = {str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.name != "SOURCES"}
    files = {f for f in files if (DATA / f).is_file()}
    fdls = {f for f in files if not f.endswith(".sh")}
    assert fdls == {rel for rel, *_ in EXPECTED}
    sources = (DATA / "SOURCES").read_text().splitlines()
    listed = {line.split("\t")[0] for line in sources if not line.startswith("#")}
    assert listed == files


def _check_generated(tmp_path: Path, spec: Path, rel: str, cluster: str, name: str) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["generate", str(spec), "--out-dir", str(out)])
    assert result.exit_code == 0, result.stderr
    (written,) = out.glob("*.yaml")
    assert lint.lint_file(written) == []
    doc = yaml.safe_load(written.read_text())
    (tpl,) = [t for t in doc["spec"]["templates"] if t["name"] == "worker"]
    # the script runs in the service container: its environment, its dispatcher's variables
    (service,) = [c for c in tpl["sidecars"] if c["name"] == "service"]
    env = {e["name"]: e for e in service["env"]}
    dispatcher = service["command"][2]
    for variable in OSCAR_VARIABLES:
        assert f"{variable}=" in dispatcher
    for key, text in _raw_variables(DATA / rel, cluster, name).items():
        assert env[key]["value"] == text  # as written: `false`, `1.0`, quotes removed
    svc = _service(DATA / rel, cluster, name)
    secrets = (svc.get("environment") or {}).get("secrets") or {}
    for key, value in secrets.items():
        assert set(env[key]) == {"name", "valueFrom"}
        assert "secretKeyRef" in env[key]["valueFrom"]
        assert str(value) not in written.read_text()
    mount = (svc.get("mount") or {}).get("path")
    if mount:
        mounts = {m["mountPath"] for m in service["volumeMounts"]}
        assert f"/mnt/{mount.strip('/').split('/')[0]}" in mounts


@pytest.mark.parametrize(("rel", "cluster", "name", "reason"), EXPECTED)
def test_real_fdl(tmp_path: Path, rel: str, cluster: str, name: str, reason: str | None) -> None:
    spec = _setup(tmp_path, rel, cluster, name)
    if reason is None:
        _check_generated(tmp_path, spec, rel, cluster, name)
        return
    result = runner.invoke(app, ["generate", str(spec)])
    assert result.exit_code == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr
    if reason.startswith("input.bucket"):  # a service OSCAR triggers otherwise: given a bucket
        spec = _setup(tmp_path, rel, cluster, name, "input: {bucket: conformance}\n")
        _check_generated(tmp_path, spec, rel, cluster, name)
