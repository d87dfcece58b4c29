"""A local stand-in for the Kubernetes API the plan pod reads in-cluster: HTTPS on 127.0.0.1
with a self-signed certificate (made with the `openssl` CLI); each ServiceAccount a pod runs
as gets its own token, projected into the pod as its service account files.

Each request is authenticated (a token it issued, or anonymous without one; any other token
is 401) and authorized by the local cluster's RBAC (local/authz.py: 403 with the apiserver's
text). It answers what `kube.from_api` and the planner read, paged like the real API
(`limit`/`continue`): GET /api/v1/nodes (this machine as one node, plus --node-resources),
/api/v1/pods (the pods the controller runs, as Argo made them), and a namespace's
resourcequotas (with the usage of its live pods as status) and limitranges, and Kueue
LocalQueues and ClusterQueues applied with --apply (read by the plan; their admission of
pods is not emulated).
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
from generator.local import authz
from generator.local.cluster import Cluster


@dataclass(frozen=True)
class Api:
    host: str
    port: int
    accounts: Accounts


def certificate(folder: Path, name: str, san: str) -> tuple[Path, Path]:
    """A self-signed certificate (key, cert) for `san` (e.g. IP:127.0.0.1, DNS:minio.minio).
    An EC P-256 key: generated in milliseconds, where an RSA 2048 one took 0.1-0.5 s of every
    run's start."""
    if not shutil.which("openssl"):
        raise RunError("openssl not found: run --local needs it for its local TLS servers")
    key, cert = folder / f"{name}.key", folder / f"{name}.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", f"/CN=oscar-batch-local-{name}", "-addext", f"subjectAltName={san}"],
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


class Accounts:
    """One token per ServiceAccount, made when a pod first mounts it: the files kubelet
    projects at /var/run/secrets/kubernetes.io/serviceaccount (token, ca.crt, namespace)."""

    def __init__(self, folder: Path, cert: Path) -> None:
        self.folder, self.cert = folder, cert
        self.users: dict[str, authz.User] = {}
        self.lock = threading.Lock()

    def folder_of(self, namespace: str, name: str) -> Path:
        with self.lock:
            where = self.folder / f"{namespace}.{name}"
            if not where.exists():
                where.mkdir(parents=True)
                token = secrets.token_hex(24)
                (where / "token").write_text(token)
                shutil.copy(self.cert, where / "ca.crt")
                (where / "namespace").write_text(namespace)
                # readable by the pod's user, whatever runAsUser (a projected volume's 0644)
                where.chmod(0o755)
                for item in where.iterdir():
                    item.chmod(0o644)
                self.users[token] = authz.service_account(namespace, name)
            return where

    def user(self, authorization: str) -> authz.User | None:
        """The caller: a ServiceAccount, anonymous without credentials, None for a bad token."""
        if not authorization:
            return authz.ANONYMOUS
        scheme, _, given = authorization.partition(" ")
        with self.lock:
            found = [u for t, u in self.users.items() if secrets.compare_digest(given, t)]
        return found[0] if scheme.lower() == "bearer" and found else None


KUEUE = {"localqueues": "LocalQueue", "clusterqueues": "ClusterQueue"}


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}  # fmt: skip


@contextlib.contextmanager
def serve(
    folder: Path,
    cluster: Cluster,
    extra: dict[str, str],
    labels: dict[str, str],
    pods: Callable[[], list[dict[str, Any]]],
) -> Iterator[Api]:
    """Run the API until the block ends; `folder` receives the service account files.

    Every request is authenticated (a ServiceAccount's token, or anonymous without one) and
    authorized by the cluster's RBAC before it is answered (403 otherwise).
    """
    folder.mkdir(parents=True, exist_ok=True)
    key, cert = certificate(folder, "api", "IP:127.0.0.1")
    accounts = Accounts(folder / "accounts", cert)
    the_node = node(extra, labels)

    class Handler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT  # StreamRequestHandler: a silent client is dropped

        def log_message(self, *_: Any) -> None:
            return

        def do_GET(self) -> None:
            user = accounts.user(str(self.headers.get("Authorization", "")))
            if user is None:
                self._send(401, _status(401, "Unauthorized", "Unauthorized"))
                return
            req = authz.request("GET", self.path)
            refused = cluster.authorize(user, req) if req else None
            if refused:
                self._send(403, _status(403, "Forbidden", refused))
                return
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if req is None:
                self._send(404, _status(404, "NotFound", "the server could not find it"))
            elif (req.group, req.resource, req.name) == ("", "nodes", ""):
                self._send(200, _page([the_node], query, "NodeList"))
            elif (req.group, req.resource, req.name) == ("", "pods", ""):
                live = [p for p in pods() if req.namespace in ("", p["metadata"]["namespace"])]
                self._send(200, _page(live, query, "PodList"))
            elif (req.group, req.resource, req.name) == (
                "",
                "resourcequotas",
                "",
            ) and req.namespace:
                found = cluster.quotas(req.namespace, pods())
                self._send(200, _page(found, query, "ResourceQuotaList"))
            elif (req.group, req.resource, req.name) == ("", "limitranges", "") and req.namespace:
                found = cluster.objects.of("LimitRange", req.namespace)
                self._send(200, _page(found, query, "LimitRangeList"))
            elif req.group == "kueue.x-k8s.io" and req.name and req.resource in KUEUE:
                kind = KUEUE[req.resource]
                got = cluster.objects.get(kind, req.namespace, req.name)
                if got is None:
                    what = f'{req.resource}.{req.group} "{req.name}" not found'
                    self._send(404, _status(404, "NotFound", what))
                else:
                    self._send(200, got)
            else:
                self._send(404, _status(404, "NotFound", "the server could not find it"))

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
        yield Api("127.0.0.1", int(server.server_address[1]), accounts)
    finally:
        server.shutdown()
        server.server_close()
