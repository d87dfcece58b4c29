"""Cluster access as kubectl and argo users expect (issue 23, item 12): kubeconfig contexts and
namespaces, submit/watch/stop through the Kubernetes API when no Argo Server is given,
`watch @latest`, `stop`. A local HTTP server speaks the Kubernetes and Argo Server routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator.build import workflow
from generator.cli import app
from generator.spec import model as spec_mod
from tests.conftest import EXAMPLES
from tests.fakehttp import JSONHandler, serve
from tests.k8s import node, pod

FISH = EXAMPLES / "fish-detector" / "batch.yaml"
TOKEN = "Bearer test-token"
DONE = {"phase": "Succeeded", "startedAt": "2026-11-24T10:00:00Z",
        "finishedAt": "2026-11-24T10:01:00Z", "nodes": {}}  # fmt: skip


class Api:
    """Workflows as custom objects (/apis/argoproj.io/...), the Argo Server's list and stop
    (/api/v1/workflows/...), and nodes/pods for plan; every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.workflows: dict[str, dict[str, Any]] = {
            "old-run": {"metadata": {"name": "old-run", "namespace": "batch",
                                     "creationTimestamp": "2026-11-24T09:00:00Z"}, "spec": {}, "status": DONE},
            "new-run": {"metadata": {"name": "new-run", "namespace": "batch",
                                     "creationTimestamp": "2026-11-24T10:00:00Z"}, "spec": {}, "status": DONE},
        }  # fmt: skip
        outer = self

        class Handler(JSONHandler):
            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length)) if length else None

            def _serve(self, method: str) -> None:
                body = self._body()
                outer.requests.append((method, self.path, body))
                if self.headers.get("Authorization") != TOKEN:
                    return self.send_json(401, {"kind": "Status", "code": 401})
                path = self.path.split("?")[0].rstrip("/")
                parts = path.split("/")
                if path.startswith("/apis/argoproj.io/v1alpha1/namespaces/"):
                    name = parts[7] if len(parts) > 7 else None
                    if method == "POST":
                        obj = dict(body)
                        obj["metadata"] = {**obj["metadata"], "name": "obsea-fish-x7k2p"}
                        return self.send_json(201, obj)
                    if name is None:
                        return self.send_json(200, {"items": list(outer.workflows.values())})
                    if name in outer.workflows:
                        return self.send_json(200, outer.workflows[name])
                    return self.send_json(404, {"kind": "Status", "code": 404})
                if path.startswith("/api/v1/workflows/"):
                    if method == "PUT":
                        return self.send_json(200, outer.workflows[parts[5]])
                    # `fields` asks for names and times only: no spec, as the Argo Server does
                    items = [{"metadata": w["metadata"]} for w in outer.workflows.values()]
                    return self.send_json(200, {"items": items})
                if path == "/api/v1/nodes":
                    return self.send_json(200, {"items": [node("n1", cpu="8", memory="32Gi")]})
                if path == "/api/v1/pods":
                    return self.send_json(200, {"items": [pod("p", "n1", {"cpu": "1"})]})
                if path.startswith("/api/v1/namespaces/") and path.endswith(
                    ("/resourcequotas", "/limitranges")
                ):
                    return self.send_json(200, {"items": []})
                return self.send_json(404, {"kind": "Status", "code": 404})

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_PUT(self) -> None:
                self._serve("PUT")

        self.httpd, self.url = serve(Handler)


@pytest.fixture()
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    for var in ("ARGO_SERVER", "ARGO_TOKEN", "ARGO_NAMESPACE", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(var, raising=False)
    a = Api()
    yield a
    a.httpd.shutdown()
    a.httpd.server_close()


def kubeconfig(tmp_path: Path, url: str) -> str:
    """Two contexts: `lab` (namespace batch, current) and `other` (a dead server)."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": url}},
                    {"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}},
                ],
                "users": [{"name": "u", "user": {"token": "test-token"}}],
                "contexts": [
                    {"name": "lab", "context": {"cluster": "c", "user": "u", "namespace": "batch"}},
                    {"name": "other", "context": {"cluster": "dead", "user": "u"}},
                ],
                "current-context": "other",
            }
        )
    )
    return str(path)


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_submit_without_an_argo_server_creates_the_workflow_object(
    api: Api, tmp_path: Path
) -> None:
    config = kubeconfig(tmp_path, api.url)
    result = run("submit", str(FISH), "--kubeconfig", config, "--context", "lab")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "obsea-fish-x7k2p\n"
    assert "to namespace batch: Kubernetes API, context lab" in result.stderr
    ((method, path, body),) = api.requests
    assert (method, path) == ("POST", "/apis/argoproj.io/v1alpha1/namespaces/batch/workflows")
    expected = yaml.safe_load(workflow.to_yaml(spec_mod.load(FISH)))
    expected["metadata"]["namespace"] = "batch"
    assert body == expected
    # -n wins over the context's namespace, as with kubectl
    run("submit", str(FISH), "--kubeconfig", config, "--context", "lab", "-n", "imagine")
    assert api.requests[-1][1] == "/apis/argoproj.io/v1alpha1/namespaces/imagine/workflows"


def test_watch_latest_and_stop_through_the_kubernetes_api(api: Api, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path, api.url)
    ctx = ["--kubeconfig", config, "--context", "lab"]
    watched = run("watch", "@latest", *ctx, "-o", "json")
    assert watched.exit_code == 0, watched.stderr
    assert json.loads(watched.stdout)["name"] == "new-run"
    stopped = run("stop", "@latest", *ctx)
    assert stopped.exit_code == 0, stopped.stderr
    assert "stopping workflow new-run in namespace batch" in stopped.stderr
    method, path, body = api.requests[-1]
    assert (method, path) == (
        "PATCH",
        "/apis/argoproj.io/v1alpha1/namespaces/batch/workflows/new-run",
    )
    assert body == {"spec": {"shutdown": "Stop"}}  # what `argo stop` sets
    unknown = run("watch", "nope", *ctx)
    assert unknown.exit_code == 1 and unknown.stderr.count("\n") == 1
    assert "cannot get workflow 'nope' in namespace 'batch' (404)" in unknown.stderr


def test_stop_and_watch_latest_through_the_argo_server(api: Api) -> None:
    server = ["--argo-server", api.url, "--token", TOKEN, "-n", "batch"]
    stopped = run("stop", "@latest", *server)
    assert stopped.exit_code == 0, stopped.stderr
    assert api.requests[-1][:2] == ("PUT", "/api/v1/workflows/batch/new-run/stop")
    listed = next(p for m, p, _ in api.requests if m == "GET")
    assert "fields=items.metadata.name" in listed


def test_a_missing_context_names_the_contexts(api: Api, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path, api.url)
    result = run("watch", "@latest", "--kubeconfig", config, "--context", "nope")
    assert result.exit_code == 1
    assert "no context 'nope' in the kubeconfig (contexts: lab, other)" in result.stderr


def test_plan_reads_the_cluster_of_the_given_context(api: Api, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path, api.url)
    listing = tmp_path / "objects.jsonl"
    listing.write_text(json.dumps({"key": "input/a.jpg", "size": 1}) + "\n")
    result = run(
        "plan", str(FISH), "--objects-from", str(listing), "--kubeconfig", config,
        "--context", "lab", "-n", "batch", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert set(json.loads(result.stdout)["nodes"]) == {"n1"}  # the context's cluster
    assert any(p.startswith("/api/v1/namespaces/batch/resourcequotas") for _, p, _ in api.requests)
