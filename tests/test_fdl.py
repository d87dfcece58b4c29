"""FDL import: every field that matters, several services and clusters, secrets as names only."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import SpecError
from generator.spec import model as spec
from tests.conftest import EXAMPLES

REAL = Path(__file__).resolve().parents[2] / "shared" / "examples" / "oscar"

MULTI = """
functions:
  oscar:
  - cluster-a:
      name: detector
      image: ghcr.io/x/detector:1
      script: script.sh
      cpu: '2.0'
      memory: 4Gi
      enable_gpu: true
      log_level: INFO
      environment:
        Variables: {MODEL: v2, THRESHOLD: 0.5}
        secrets: {API_TOKEN: "super-secret-value-123"}
      input: [{storage_provider: minio.default, path: archive/images}]
      output: [{storage_provider: minio.default, path: archive/detections}]
  - cluster-b:
      name: detector
      image: ghcr.io/x/detector:1
      script: script.sh
  - cluster-a:
      name: cowsay
      image: ghcr.io/grycap/cowsay
      script: script.sh
      mount: {storage_provider: minio.default, path: /cows/herd}
"""


def _spec(tmp_path: Path, service: str, fdl: str = MULTI, extra: str = "") -> Path:
    (tmp_path / "services.fdl.yaml").write_text(fdl)
    (tmp_path / "script.sh").write_text("echo hi\n")
    path = tmp_path / "batch.yaml"
    path.write_text(f"name: t\nservice: {service}\n{extra}")
    return path


def test_picks_a_service_by_name_and_cluster(tmp_path: Path) -> None:
    s = spec.load(_spec(tmp_path, "{fdl: services.fdl.yaml, name: detector, cluster: cluster-a}"))
    assert s.service.image == "ghcr.io/x/detector:1"
    assert (s.service.cpu, s.service.memory, s.service.gpu) == ("2.0", "4Gi", 1)
    assert s.service.env == {"MODEL": "v2", "THRESHOLD": "0.5"}
    assert s.service.secret_env == ("API_TOKEN",)
    assert s.service.log_level == "INFO"
    # storage paths of the FDL become the input/output defaults
    assert (s.input.bucket, s.input.prefix) == ("archive", "images/")
    assert (s.output_bucket, s.output.prefix) == ("archive", "detections/")


def test_secret_values_are_never_kept(tmp_path: Path) -> None:
    s = spec.load(_spec(tmp_path, "{fdl: services.fdl.yaml, name: detector, cluster: cluster-a}"))
    assert "super-secret-value-123" not in s.model_dump_json()


def test_mount_path_gives_the_input_bucket(tmp_path: Path) -> None:
    s = spec.load(_spec(tmp_path, "{fdl: services.fdl.yaml, name: cowsay}"))
    assert (s.input.bucket, s.input.prefix) == ("cows", "herd/")


def test_spec_fields_override_the_fdl(tmp_path: Path) -> None:
    path = _spec(
        tmp_path,
        "{fdl: services.fdl.yaml, name: cowsay, cpu: 250m}",
        extra="input: {bucket: other, prefix: p/}\n",
    )
    s = spec.load(path)
    assert s.service.cpu == "250m"
    assert (s.input.bucket, s.input.prefix) == ("other", "p/")


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ("{fdl: services.fdl.yaml, name: detector}", "several services"),
        ("{fdl: services.fdl.yaml}", "several services"),
        ("{fdl: services.fdl.yaml, name: nope}", "no service 'nope'"),
        ("{fdl: missing.fdl.yaml}", "cannot read"),
    ],
)
def test_ambiguous_or_missing_services(tmp_path: Path, service: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec.load(_spec(tmp_path, service))


@pytest.mark.parametrize(
    ("fdl", "message"),
    [
        (
            "functions: {oscar: [{c: {name: x, image: y, script: script.sh, cpus: '1'}}]}",
            "unknown OSCAR service field 'cpus'",
        ),
        ("functions: {oscar: []}", "non-empty list"),
        ("services: []", "not an OSCAR FDL"),
        (
            "functions: {oscar: [{c: {name: x, image: y, script: script.sh, memory: 3GB}}]}",
            "service.memory: not a quantity",
        ),
        ("functions: {oscar: [{c: {name: x, image: y}}]}", "script: required"),
    ],
)
def test_bad_fdls(tmp_path: Path, fdl: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec.load(
            _spec(tmp_path, "{fdl: services.fdl.yaml}", fdl=fdl, extra="input: {bucket: data}\n")
        )


@pytest.mark.parametrize("name", ["fish-detector-mount", "secret-usage", "yolov8"])
def test_real_oscar_fdls_import(tmp_path: Path, name: str) -> None:
    """The FDLs from OSCAR's own repositories (one has trailing tabs that PyYAML rejects)."""
    fdl = (
        (REAL / f"{name}.fdl.yaml") if REAL.exists() else (EXAMPLES / "yolov8" / f"{name}.fdl.yaml")
    )
    if not fdl.exists():
        fdl = EXAMPLES / "fish-detector" / "fish-detector.fdl.yaml"
    path = _spec(
        tmp_path, "{fdl: services.fdl.yaml}", fdl=fdl.read_text(), extra="input: {bucket: data}\n"
    )
    s = spec.load(path)
    assert s.service.image
    if name == "secret-usage":
        assert s.service.secret_env == ("COWSAY_SECRET",)
        assert "this-is-my-secret" not in s.model_dump_json()
