"""A service read from an OSCAR cluster (`service.oscar`), as the original coordinator reads it.

A local HTTP server answers `GET /system/services/<name>` with basic auth, as OSCAR does
(oscar pkg/handlers/read.go: the service type as JSON, the script's text inline); the
cluster and its credentials come from an oscar-cli configuration file. What is generated
is exactly what the same service's FDL generates.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from typer.testing import CliRunner

from generator.cli import app
from tests.fakehttp import JSONHandler, serve
from tests.test_fdl_conformance import DATA
from tests.test_fdl_conformance import _service as fdl_service

FDL = DATA / "oscar-hub" / "crates" / "stress-test" / "fdl.yml"
SCRIPT = FDL.parent / "script.sh"
USER, PASSWORD = "oscar", "s3cr3t-pw"


def _service() -> dict[str, Any]:
    """The FDL's service as OSCAR stores and returns it (JSON, script inline, cluster id)."""
    svc = fdl_service(FDL, "oscar-cluster", "stress-test")
    return {**svc, "script": SCRIPT.read_text(), "cluster_id": "oscar-cluster", "namespace": "x"}


class Oscar(JSONHandler):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Oscar.seen.append(self.path)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_json(401, {"message": "unauthorized"})
        elif self.path == "/system/services/stress-test":
            self.send_json(200, _service())
        else:
            self.send_json(404, {})


@pytest.fixture()
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    httpd, url = serve(Oscar)
    home = tmp_path / "home"
    (home / ".oscar-cli").mkdir(parents=True)
    config = {
        "oscar": {
            "oscar-test": {"endpoint": url, "auth_user": USER, "auth_password": PASSWORD,
                           "ssl_verify": False, "memory": "256Mi", "log_level": "INFO"},
            "other": {"endpoint": url, "oidc_account_name": "egi", "ssl_verify": True},
        },
        "default": "oscar-test",
    }  # fmt: skip
    (home / ".oscar-cli" / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("OSCAR_TOKEN", raising=False)
    yield url
    httpd.shutdown()
    httpd.server_close()


def _generate(spec: Path) -> Any:
    result = CliRunner().invoke(app, ["generate", str(spec)])
    return result


def test_generates_from_the_cluster_exactly_as_from_the_fdl(tmp_path: Path, cluster: str) -> None:
    (tmp_path / "fdl").mkdir()
    shutil.copy(FDL, tmp_path / "fdl" / "fdl.yml")
    shutil.copy(SCRIPT, tmp_path / "fdl" / "script.sh")
    (tmp_path / "fdl" / "batch.yaml").write_text("name: stress\nservice: {fdl: fdl.yml}\n")
    (tmp_path / "live.yaml").write_text(
        "name: stress\nservice: {oscar: oscar-test, name: stress-test}\n"
    )
    from_fdl = _generate(tmp_path / "fdl" / "batch.yaml")
    from_cluster = _generate(tmp_path / "live.yaml")
    assert from_fdl.exit_code == 0 and from_cluster.exit_code == 0, from_cluster.stderr
    assert from_cluster.stdout == from_fdl.stdout
    assert "/system/services/stress-test" in Oscar.seen
    assert PASSWORD not in from_cluster.stdout + from_cluster.stderr


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ("{oscar: nowhere, name: stress-test}", "no cluster 'nowhere' in"),
        ("{oscar: other, name: stress-test}", "signs in with OIDC"),
        ("{oscar: oscar-test, name: missing}", "answered 404 to /system/services/missing"),
    ],
)
def test_cluster_problems_are_one_line(
    tmp_path: Path, cluster: str, service: str, message: str
) -> None:
    (tmp_path / "live.yaml").write_text(f"name: stress\nservice: {service}\n")
    result = _generate(tmp_path / "live.yaml")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert message in line and PASSWORD not in line


def test_wrong_credentials_by_url(
    tmp_path: Path, cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSCAR_USER", USER)
    monkeypatch.setenv("OSCAR_PASSWORD", "wrong")
    (tmp_path / "live.yaml").write_text(
        f"name: stress\nservice: {{oscar: {json.dumps(cluster)}, name: stress-test}}\n"
    )
    result = _generate(tmp_path / "live.yaml")
    assert result.exit_code == 1
    assert "refused the credentials (401)" in result.stderr
    monkeypatch.setenv("OSCAR_PASSWORD", PASSWORD)
    assert _generate(tmp_path / "live.yaml").exit_code == 0
