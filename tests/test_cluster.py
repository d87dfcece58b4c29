"""Cluster sources: snapshots, the live API (a local HTTP server speaking the Kubernetes API), OSCAR."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from generator.clients import kube as cluster
from generator.errors import ClusterError
from tests.fakehttp import JSONHandler, serve
from tests.k8s import kubectl_list, node, pod


class FakeServer:
    """A real HTTP server on loopback; `routes` maps a path to a function of the query."""

    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        outer = self

        class Handler(JSONHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((url.path, query, headers))
                route = outer.routes.get(url.path)
                status, body = (
                    route(query, headers) if route else (404, {"kind": "Status", "code": 404})
                )
                self.send_json(status, body)

        self.httpd, self.url = serve(Handler)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[FakeServer]:
    s = FakeServer()
    yield s
    s.close()


def paginated(kind: str, items: list[dict[str, Any]]) -> Any:
    """A list route that honours `limit` and `continue` like the API server."""

    def route(query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if headers.get("authorization") != "Bearer test-token":
            return 401, {"kind": "Status", "code": 401, "reason": "Unauthorized"}
        start = int(query.get("continue", ["0"])[0])
        limit = int(query.get("limit", ["500"])[0])
        page = items[start : start + limit]
        meta = {"resourceVersion": "1"}
        if start + limit < len(items):
            meta["continue"] = str(start + limit)
        return 200, {"apiVersion": "v1", "kind": f"{kind}List", "metadata": meta, "items": page}

    return route


def kubeconfig(tmp_path: Path, url: str, token: str = "test-token") -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": url}}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return str(path)


def test_live_api_reads_every_page(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(cluster, "PAGE", 3)
    nodes = [node(f"n{i}") for i in range(7)]
    pods = [pod(f"p{i}", f"n{i % 7}", {"cpu": "100m"}) for i in range(10)]
    server.routes["/api/v1/nodes"] = paginated("Node", nodes)
    server.routes["/api/v1/pods"] = paginated("Pod", pods)
    state = cluster.from_api(kubeconfig(tmp_path, server.url))
    assert [n["metadata"]["name"] for n in state.nodes] == [f"n{i}" for i in range(7)]
    assert len(state.pods) == 10
    pod_queries = [q for path, q, _ in server.requests if path == "/api/v1/pods"]
    assert len(pod_queries) == 4  # 10 pods, pages of 3
    assert pod_queries[0]["fieldSelector"] == ["status.phase!=Succeeded,status.phase!=Failed"]


def test_live_api_refusal_is_one_line(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    server.routes["/api/v1/nodes"] = paginated("Node", [node("n")])
    with pytest.raises(ClusterError, match="refused to list nodes/pods: 401") as err:
        cluster.from_api(kubeconfig(tmp_path, server.url, token="wrong-token"))
    assert "wrong-token" not in str(err.value)


def test_live_api_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    from generator.local.rclone import free_port

    config = kubeconfig(tmp_path, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ClusterError, match="cannot reach the Kubernetes API"):
        cluster.from_api(config)


def test_no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match="no Kubernetes configuration"):
        cluster.from_api(str(tmp_path / "missing"))


def test_snapshot_of_one_list_or_two_files(tmp_path: Path) -> None:
    both = tmp_path / "both.json"
    both.write_text(json.dumps(kubectl_list(node("a"), pod("p", "a"))))
    state = cluster.from_snapshot([both])
    assert (len(state.nodes), len(state.pods)) == (1, 1)
    nodes, pods = tmp_path / "nodes.json", tmp_path / "pods.json"
    nodes.write_text(json.dumps(kubectl_list(node("a"), node("b"))))
    pods.write_text(json.dumps(kubectl_list(pod("p", "a"))))
    state = cluster.from_snapshot([nodes, pods])
    assert (len(state.nodes), len(state.pods)) == (2, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ('{"kind": "List", "items": []}', "no Node objects"),
        ("[1, 2]", "expected the JSON"),
    ],
)
def test_bad_snapshots(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(ClusterError, match=message):
        cluster.from_snapshot([path])


OLD_STATUS = {
    "numberNodes": 2,
    "cpuFreeTotal": 3000,
    "detail": [
        {
            "nodeName": "w1",
            "cpuCapacity": "4000",
            "cpuUsage": "3500",
            "memoryCapacity": "8589934592",
            "memoryUsage": "1073741824",
        },
        {
            "nodeName": "w2",
            "cpuCapacity": "4000",
            "cpuUsage": "1000",
            "memoryCapacity": "8589934592",
            "memoryUsage": "1073741824",
        },
    ],
}
NEW_STATUS = {
    "cluster": {
        "nodes_count": 3,
        "nodes": [
            {"name": "w1", "cpu": {"capacity_cores": 8000, "usage_cores": 500, "request_cores": 6500},
             "memory": {"capacity_bytes": 17179869184, "usage_bytes": 1, "request_bytes": 2147483648}, "gpu": 0, "is_interlink": False, "status": "Ready"},
            {"name": "w2", "cpu": {"capacity_cores": 8000, "usage_cores": 0, "request_cores": 0},
             "memory": {"capacity_bytes": 17179869184, "usage_bytes": 0, "request_bytes": 0}, "gpu": 2, "is_interlink": False, "status": "Ready"},
            {"name": "vk", "cpu": {"capacity_cores": 100000}, "memory": {"capacity_bytes": 1}, "is_interlink": True},
        ],
    },
    "oscar": {},
    "minio": {},
}  # fmt: skip


def test_oscar_status_both_shapes_with_auth(server: FakeServer) -> None:
    def status(doc: dict[str, Any], expect: str) -> Any:
        def route(query: Any, headers: dict[str, str]) -> tuple[int, Any]:
            return (200, doc) if headers.get("authorization") == expect else (401, {})

        return route

    server.routes["/system/status"] = status(OLD_STATUS, "Basic b3NjYXI6cGFzcw==")  # oscar:pass
    old = cluster.from_oscar(server.url, user="oscar", password="pass", token=None)
    assert [n["metadata"]["name"] for n in old.nodes] == ["w1", "w2"]
    assert old.pods[0]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "3500m"
    with pytest.raises(ClusterError, match="refused the credentials"):
        cluster.from_oscar(server.url, user="oscar", password="wrong", token=None)

    server.routes["/system/status"] = status(NEW_STATUS, "Bearer tok")
    new = cluster.from_oscar(server.url, user=None, password=None, token="tok")
    assert [n["metadata"]["name"] for n in new.nodes] == ["w1", "w2"]  # interLink node left out
    assert new.nodes[1]["status"]["allocatable"]["nvidia.com/gpu"] == "2"
    assert new.pods[0]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "6500m"


def test_oscar_status_garbage() -> None:
    with pytest.raises(ClusterError, match="not an OSCAR /system/status"):
        cluster.parse_oscar_status({"hello": 1}, "x")


def test_this_machine_is_one_ready_node() -> None:
    state = cluster.this_machine()
    (only,) = state.nodes
    assert int(only["status"]["allocatable"]["cpu"]) >= 1
