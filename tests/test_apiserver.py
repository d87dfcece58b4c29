"""The Kubernetes API stand-in of run --local and the planner's client: an idle or silent peer
stalls nothing (issue 20 item 4)."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.clients import kube as cluster
from generator.errors import ClusterError
from generator.local import apiserver
from generator.local import cluster as local_cluster
from tests.test_cluster import kubeconfig

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")


# a ServiceAccount allowed to read nodes and pods (the API authorizes every call)
READER = [
    {"kind": "ClusterRole", "metadata": {"name": "read"},
     "rules": [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["list"]}]},
    {"kind": "ClusterRoleBinding", "metadata": {"name": "read"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "read"},
     "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "default"}]},
]  # fmt: skip


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[apiserver.Api]:
    objects = local_cluster.load([], "default", READER)
    with apiserver.serve(tmp_path / "api", objects, {}, {}, lambda: []) as served:
        yield served


def _config(tmp_path: Path, api: apiserver.Api) -> str:
    account = api.accounts.folder_of("default", "reader")
    path = kubeconfig(tmp_path, f"https://{api.host}:{api.port}", (account / "token").read_text())
    text = (
        Path(path)
        .read_text()
        .replace('"server":', f'"certificate-authority": "{account / "ca.crt"}", "server":')
    )
    Path(path).write_text(text)
    return path


def _in_thread(fn: object, wait: float) -> list[object]:
    """fn()'s result or exception, [] when it has not returned after `wait` seconds."""
    out: list[object] = []

    def call() -> None:
        try:
            out.append(fn())  # type: ignore[operator]
        except Exception as exc:  # handed to the test
            out.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(wait)
    return out


def test_an_idle_connection_does_not_stall_the_api(
    tmp_path: Path, api: apiserver.Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    config = _config(tmp_path, api)
    # a client that connects and never starts the TLS handshake
    with socket.create_connection((api.host, api.port)):
        got = _in_thread(lambda: cluster.from_api(config), 20)
    assert got, "the API did not answer while another connection was idle"
    (state,) = got
    assert isinstance(state, cluster.ClusterState), state
    assert [n["metadata"]["name"] for n in state.nodes] == ["localhost"]


def test_the_api_drops_a_connection_that_never_handshakes(
    api: apiserver.Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apiserver, "HANDSHAKE_TIMEOUT", 0.5, raising=False)
    with socket.create_connection((api.host, api.port)) as idle:
        idle.settimeout(20)
        assert idle.recv(1) == b""  # closed by the server


def test_the_planner_gives_up_on_an_api_that_never_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(cluster, "REQUEST_TIMEOUT", (1.0, 1.0), raising=False)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        config = kubeconfig(tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}")
        got = _in_thread(lambda: cluster.from_api(config), 30)
    assert got, "the planner's request to a silent API never timed out"
    (error,) = got
    assert isinstance(error, ClusterError) and "did not answer" in str(error), error
