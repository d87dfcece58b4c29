"""A local stand-in for the Kubernetes API the plan pod reads in-cluster: HTTPS on 127.0.0.1
with a self-signed certificate (made with the `openssl` CLI) and a bearer token, projected
into the pods as their service account files.

It answers what `kube.from_api` and the planner read, paged like the real API
(`limit`/`continue`): GET /api/v1/nodes (this machine as one node, plus --node-resources),
/api/v1/pods (the pods the executor runs) and /api/v1/namespaces/NS/resourcequotas (none).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from generator.clients import kube
from generator.errors import RunError


@dataclass(frozen=True)
class Api:
    host: str
    port: int
    account_dir: Path


def certificate(folder: Path, name: str, san: str) -> tuple[Path, Path]:
    """A self-signed certificate (key, cert) for `san` (e.g. IP:127.0.0.1, DNS:minio.minio)."""
    if not shutil.which("openssl"):
        raise RunError("openssl not found: run --local needs it for its local TLS servers")
    key, cert = folder / f"{name}.key", folder / f"{name}.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", f"/CN=oscar-batch-local-{name}",
         "-addext", f"subjectAltName={san}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


def node(extra: dict[str, str], labels: dict[str, str]) -> dict[str, Any]:
    """This machine as a Node object, with extra allocatable resources (e.g. nvidia.com/gpu)
    and labels."""
    (doc,) = kube.this_machine().nodes
    doc = dict(json.loads(json.dumps(doc)))
    doc["kind"] = "Node"
    doc["metadata"]["labels"] = {"kubernetes.io/hostname": "localhost", **labels}
    doc["status"]["allocatable"].update(extra)
    doc["status"]["capacity"] = dict(doc["status"]["allocatable"])
    return doc


def _page(items: list[dict[str, Any]], query: dict[str, list[str]], kind: str) -> dict[str, Any]:
    start = int((query.get("continue") or ["0"])[0] or 0)
    limit = int((query.get("limit") or ["0"])[0] or 0) or len(items) or 1
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return {
        "kind": kind,
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "1", **({"continue": str(start + limit)} if more else {})},
        "items": chunk,
    }


HANDSHAKE_TIMEOUT = 10.0  # seconds a client may take to finish the TLS handshake
REQUEST_TIMEOUT = 60.0  # seconds a client may stay silent within a request


class _TLSServer(ThreadingHTTPServer):
    """One thread per connection, the TLS handshake in that thread: a client that connects
    and never handshakes holds its own thread until HANDSHAKE_TIMEOUT, never the listener
    (wrapping the listening socket would handshake in accept(), on the serving thread)."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(address, handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except OSError:  # ssl.SSLError and socket.timeout too
            return
        with tls:
            super().finish_request(tls, client_address)


@contextlib.contextmanager
def serve(
    folder: Path,
    namespace: str,
    extra: dict[str, str],
    labels: dict[str, str],
    pods: Callable[[], list[dict[str, Any]]],
) -> Iterator[Api]:
    """Run the API until the block ends; `folder` receives the service account files."""
    folder.mkdir(parents=True, exist_ok=True)
    key, cert = certificate(folder, "api", "IP:127.0.0.1")
    token = secrets.token_hex(24)
    account = folder / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(token)
    shutil.copy(cert, account / "ca.crt")
    (account / "namespace").write_text(namespace)
    the_node = node(extra, labels)

    class Handler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT  # StreamRequestHandler: a silent client is dropped

        def log_message(self, *_: Any) -> None:
            return

        def do_GET(self) -> None:
            scheme, _, given = str(self.headers.get("Authorization", "")).partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(given, token):
                self._send(
                    401,
                    {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401},
                )
                return
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            parts = url.path.strip("/").split("/")
            if url.path == "/api/v1/nodes":
                self._send(200, _page([the_node], query, "NodeList"))
            elif url.path == "/api/v1/pods" or (len(parts) == 5 and parts[4] == "pods"):
                self._send(200, _page(pods(), query, "PodList"))
            elif (
                len(parts) == 5
                and parts[:3] == ["api", "v1", "namespaces"]
                and parts[4] == "resourcequotas"
            ):
                self._send(200, _page([], query, "ResourceQuotaList"))
            else:
                self._send(
                    404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404}
                )

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _TLSServer(("127.0.0.1", 0), Handler, context)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield Api("127.0.0.1", int(server.server_address[1]), account)
    finally:
        server.shutdown()
        server.server_close()
