"""What ships: the version everywhere the same, the runtime image as documented, templates in the wheel."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from generator import __version__
from generator.spec.model import Argo
from tests.conftest import ROOT

IMAGE = f"ghcr.io/grycap/oscar-batch:{__version__}"


def test_one_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    assert Argo().runtime_image == IMAGE


def test_dockerfile_matches_the_readme_and_is_pinned_and_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    readme = (ROOT / "docs" / "argo.md").read_text()
    assert f"docker build -t {IMAGE} ." in readme
    assert f"docker build -t {IMAGE} ." in dockerfile
    assert f'org.opencontainers.image.version="{__version__}"' in dockerfile
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert bases and all(re.search(r":\d+\.\d+\.\d+-", b) for b in bases), bases
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("0", "root")
    constraints = (ROOT / "docker" / "constraints.txt").read_text()
    for dep in ("hera", "minio", "kubernetes", "jinja2", "typer", "pydantic"):
        assert re.search(rf"^{dep}==\S+$", constraints, re.M | re.I), dep


def test_the_workflow_runs_the_image_entry_point() -> None:
    workflow = (ROOT / "workflows" / "obsea-fish.yaml").read_text()
    assert f"image: {IMAGE}" in workflow
    assert "- oscar-batch\n      - stage" in workflow


def test_wheel_carries_templates_and_schema(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("oscar_batch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for template in ("runner.sh.j2", "service.sh.j2", "common.sh.j2"):
        assert f"generator/templates/{template}" in names
    assert "generator/schema/argo-workflows-v4.1-schema.json" in names
    assert any(n.endswith("entry_points.txt") for n in names)
