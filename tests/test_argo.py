"""submit and watch against a local HTTP server that speaks the Argo Server routes we use."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator import lint
from generator.build import workflow
from generator.cli import app
from generator.clients import argo_server as argo
from generator.spec import model as spec
from tests.conftest import EXAMPLES, ROOT
from tests.fakehttp import JSONHandler, serve

TOKEN = "Bearer s3cr3t-t0ken"
FISH = EXAMPLES / "fish-detector" / "batch.yaml"


def _node(shard: str, phase: str, progress: str, started: str) -> dict[str, Any]:
    return {
        "id": f"n-{shard}-{started}", "name": f"w(0:{shard})", "type": "Pod", "templateName": "worker",
        "phase": phase, "progress": progress, "startedAt": started, "inputs": {"parameters": [{"name": "shard", "value": shard}]},
    }  # fmt: skip


def _status(phase: str, nodes: list[dict[str, Any]], finished: bool = False) -> dict[str, Any]:
    status = {
        "phase": phase,
        "startedAt": "2026-11-24T10:00:00Z",
        "nodes": {n["id"]: n for n in nodes},
    }
    if finished:
        status["finishedAt"] = "2026-11-24T10:01:40Z"
    return status


RUN_OK = [
    _status("Pending", []),
    _status("Running", [_node("0000", "Running", "10/50", "2026-11-24T10:00:10Z"), _node("0001", "Pending", "0/1", "2026-11-24T10:00:10Z")]),
    _status("Succeeded", [_node("0000", "Failed", "20/50", "2026-11-24T10:00:10Z"), _node("0000", "Succeeded", "50/50", "2026-11-24T10:00:30Z"), _node("0001", "Succeeded", "50/50", "2026-11-24T10:00:10Z")], finished=True),
]  # fmt: skip
RUN_FAIL = [
    _status("Running", [_node("0000", "Running", "1/5", "2026-11-24T10:00:10Z")]),
    {**_status("Failed", [_node("0000", "Failed", "3/5", "2026-11-24T10:00:10Z")], finished=True), "message": "child failed"},
]  # fmt: skip


class ArgoServer:
    """Create (workflows, templates, cron), get with scripted states, and the error statuses."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self.states: dict[str, list[dict[str, Any]]] = {}
        self.existing: set[str] = set()
        self.namespaces = {"argo", "batch", "imagine"}
        self.seen_tokens: list[str] = []
        outer = self

        class Handler(JSONHandler):
            def _authorised(self) -> bool:
                outer.seen_tokens.append(self.headers.get("Authorization", ""))
                if self.headers.get("Authorization") != TOKEN:
                    self.send_json(401, {"code": 16, "message": "token not valid"})
                    return False
                return True

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self._authorised():
                    return
                _, _, _, route, ns = self.path.rstrip("/").split("/")
                outer.bodies.append((self.path, body))
                if ns not in outer.namespaces:
                    return self.send_json(
                        404, {"code": 5, "message": f'namespaces "{ns}" not found'}
                    )
                key = {
                    "workflows": "workflow",
                    "workflow-templates": "template",
                    "cron-workflows": "cronWorkflow",
                }[route]
                obj = copy.deepcopy(body[key])
                name = obj["metadata"].get("name") or obj["metadata"]["generateName"] + "x7k2p"
                if name in outer.existing:
                    return self.send_json(
                        409, {"code": 6, "message": f'{route} "{name}" already exists'}
                    )
                outer.existing.add(name)
                obj["metadata"]["name"] = name
                self.send_json(200, obj)

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                _, _, _, _, ns, name = self.path.split("/")
                states = outer.states.get(name)
                if ns not in outer.namespaces or not states:
                    return self.send_json(
                        404, {"code": 5, "message": f'workflows.argoproj.io "{name}" not found'}
                    )
                status = states.pop(0) if len(states) > 1 else states[0]
                self.send_json(
                    200, {"metadata": {"name": name, "namespace": ns}, "spec": {}, "status": status}
                )

        self.httpd, self.url = serve(Handler)


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ArgoServer]:
    for var in (
        "ARGO_SERVER",
        "ARGO_TOKEN",
        "ARGO_NAMESPACE",
        "ARGO_INSECURE_SKIP_VERIFY",
        "ARGO_SECURE",
        "ARGO_BASE_HREF",
    ):
        monkeypatch.delenv(var, raising=False)
    s = ArgoServer()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_submit_spec_sends_exactly_the_generated_workflow(
    server: ArgoServer, tmp_path: Path
) -> None:
    code, out, err = invoke("submit", str(FISH), "--argo-server", server.url, "--token", TOKEN)
    assert code == 0, err
    assert out == "obsea-fish-x7k2p\n"
    assert f"{server.url}/workflows/argo/obsea-fish-x7k2p" in err
    ((path, body),) = server.bodies
    assert path == "/api/v1/workflows/argo"
    expected = yaml.safe_load(workflow.to_yaml(spec.load(FISH)))
    assert body == {"namespace": "argo", "workflow": expected}
    sent = tmp_path / "sent.yaml"
    sent.write_text(yaml.safe_dump(body["workflow"]))
    assert lint.lint_file(sent) == []
    assert "s3cr3t" not in out + err


def test_settings_from_the_argo_cli_environment(server: ArgoServer) -> None:
    host = server.url.removeprefix("http://")
    env = {
        "ARGO_SERVER": host,
        "ARGO_SECURE": "false",
        "ARGO_TOKEN": TOKEN,
        "ARGO_NAMESPACE": "batch",
    }
    code, out, err = invoke("submit", str(FISH), "-o", "json", env=env)
    assert code == 0, err
    assert json.loads(out) == {
        "name": "obsea-fish-x7k2p", "kind": "Workflow", "namespace": "batch",
        "url": f"{server.url}/workflows/batch/obsea-fish-x7k2p",
    }  # fmt: skip
    assert server.bodies[0][0] == "/api/v1/workflows/batch"
    assert server.bodies[0][1]["workflow"]["metadata"]["namespace"] == "batch"


def test_token_file_and_committed_yaml(server: ArgoServer, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    wf = ROOT / "workflows" / "image-stats.yaml"
    code, _, err = invoke(
        "submit", str(wf), "--argo-server", server.url, "--token-file", str(token)
    )
    assert code == 0, err
    assert server.bodies[0][1]["workflow"] == yaml.safe_load(wf.read_text())


@pytest.mark.parametrize(
    ("golden", "route"),
    [("yolov8-nightly.yaml", "/api/v1/cron-workflows/imagine")],
)
def test_cron_workflows_go_to_their_route(server: ArgoServer, golden: str, route: str) -> None:
    code, _, err = invoke(
        "submit", str(ROOT / "workflows" / golden), "--argo-server", server.url, "--token", TOKEN
    )
    assert code == 0, err
    assert server.bodies[0][0] == route
    assert "/cron-workflows/imagine/yolov8-nightly" in err


def test_a_yaml_that_fails_lint_is_refused(server: ArgoServer, tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "workflows" / "image-stats.yaml").read_text())
    doc["spec"]["entrypoint"] = "nope"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    code, out, err = invoke("submit", str(bad), "--argo-server", server.url, "--token", TOKEN)
    assert code == 1 and out == ""
    assert "spec.entrypoint: template name 'nope' undefined" in err and "not submitted" in err
    assert server.bodies == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--token", "Bearer wrong"], "refused the token (401)"),
        (["--token", TOKEN, "-n", "missing"], "not found in namespace 'missing' (404)"),
    ],
)
def test_server_errors_are_one_line_without_the_token(
    server: ArgoServer, args: list[str], message: str
) -> None:
    code, out, err = invoke("submit", str(FISH), "--argo-server", server.url, *args)
    assert code == 1 and out == ""
    assert message in err and err.count("\n") == 1
    assert "wrong" not in err and "s3cr3t" not in err


def test_name_clash(server: ArgoServer) -> None:
    args = [
        "submit",
        str(ROOT / "workflows" / "yolov8-nightly.yaml"),
        "--argo-server",
        server.url,
        "--token",
        TOKEN,
    ]
    assert invoke(*args)[0] == 0
    code, _, err = invoke(*args)
    assert code == 1 and "already taken in namespace 'imagine' (409)" in err


def test_unreachable_server_and_missing_settings() -> None:
    from generator.local.rclone import free_port

    code, _, err = invoke(
        "watch", "x", "--argo-server", f"http://127.0.0.1:{free_port()}", "--token", TOKEN
    )
    assert code == 1 and "cannot reach the Argo Server" in err and "s3cr3t" not in err
    code, _, err = invoke("watch", "x", env={"ARGO_SERVER": ""})
    assert code == 1 and "no Argo Server" in err


def test_watch_follows_pending_running_succeeded(server: ArgoServer) -> None:
    server.states["run-ok"] = copy.deepcopy(RUN_OK)
    code, out, err = invoke(
        "watch", "run-ok", "--argo-server", server.url, "--token", TOKEN, "--interval", "0.05"
    )
    assert code == 0, err
    assert "run-ok: Succeeded" in out and "100/100" in out and "2 succeeded" in out


def test_watch_json_and_failure_exit(server: ArgoServer) -> None:
    server.states["run-bad"] = copy.deepcopy(RUN_FAIL)
    code, out, err = invoke(
        "watch",
        "run-bad",
        "--argo-server",
        server.url,
        "--token",
        TOKEN,
        "--interval",
        "0.05",
        "-o",
        "json",
    )
    assert code == 1
    assert json.loads(out)["phase"] == "Failed"
    assert "workflow run-bad failed: child failed" in err


def test_submit_and_watch(server: ArgoServer) -> None:
    server.states["obsea-fish-x7k2p"] = copy.deepcopy(RUN_OK)
    code, out, err = invoke(
        "submit",
        str(FISH),
        "--argo-server",
        server.url,
        "--token",
        TOKEN,
        "--watch",
        "--interval",
        "0.05",
        "-o",
        "json",
    )
    assert code == 0, err
    final = json.loads(out)
    assert final["phase"] == "Succeeded" and final["url"].endswith(
        "/workflows/argo/obsea-fish-x7k2p"
    )


def test_watch_of_an_unknown_workflow(server: ArgoServer) -> None:
    code, _, err = invoke("watch", "ghost", "--argo-server", server.url, "--token", TOKEN)
    assert code == 1 and "cannot get workflow 'ghost': not found in namespace 'argo' (404)" in err


def test_run_state_takes_each_shards_latest_attempt() -> None:
    state = argo.run_state({"status": RUN_OK[2]}, now=0)
    assert state.workers == {"Succeeded": 2}
    assert (state.files_done, state.files_total) == (100, 100)
    assert state.elapsed == 100 and state.rate == 1.0


def test_settings_repr_hides_the_token() -> None:
    s = argo.settings(
        server="https://a",
        token="tok-123",
        token_file=None,
        namespace=None,
        insecure=None,
        default_namespace="argo",
        env={},
    )
    assert "tok-123" not in repr(s)
    assert s.server == "https://a/" and s.namespace == "argo" and not s.insecure
    based = argo.settings(server=None, token=None, token_file=None, namespace=None, insecure=None, default_namespace="x",
                          env={"ARGO_SERVER": "argo.example.org:2746", "ARGO_BASE_HREF": "/argo/", "ARGO_INSECURE_SKIP_VERIFY": "true"})  # fmt: skip
    assert based.server == "https://argo.example.org:2746/argo/" and based.insecure
