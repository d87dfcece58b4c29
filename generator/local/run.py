"""`run --local`: the workflow document, and only it, executed on this machine.

FILE is a batch spec (its workflow is generated in memory, exactly as `generate` writes it)
or a workflow YAML (linted, then run as it is). What a cluster would provide is stood in for:
S3 (an embedded `rclone serve s3` answering for the YAML's endpoint host name, which each
pod's /etc/hosts maps to a loopback address), the Kubernetes API (generator/apiserver.py),
Secrets (the embedded server's keys, else the process environment), and images (host
commands, see generator/workflowpod.py).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from generator.bucket import layout, lock
from generator.build import prebuilt
from generator.clients import s3 as storage
from generator.errors import OscarBatchError, RunError
from generator.local import (
    apiserver,
    cluster,
    controller,
    datadir,
    lifetime,
    rclone,
    runtimeimage,
    supported,
    workflowpod,
)
from generator.spec import model as spec_mod
from generator.spec.yamlfile import load_yaml, read_yaml


class UsageError(RunError):
    exit_code = 2


@dataclass(frozen=True)
class Document:
    doc: dict[str, Any]
    text: str
    source: str
    notes: list[str]


def document(path: Path, load: Callable[[Path], spec_mod.BatchSpec], is_set: bool) -> Document:
    """The document to run: FILE's workflow, or the one generated from the spec `load` reads
    from FILE (the CLI's loader, with its flags applied).

    Raises:
        RunError: lint problems, or fields run --local does not emulate (one line).
    """
    data = read_yaml(path)
    if isinstance(data, dict) and data.get("kind") in supported.KINDS:
        if is_set:
            raise UsageError(
                f"{path} is a workflow: --workers, --set and --skip-existing apply to a batch spec"
                " (a workflow's width is decided by its plan step); use --run to set its run"
            )
        from generator import lint  # a workflow file's only: not paid by a spec's run

        text = path.read_text(encoding="utf-8")
        problems = lint.lint_text(text, str(path))
        if problems:
            raise RunError("\n".join(str(p) for p in problems))
    else:
        text = prebuilt.to_yaml(load(path))
        data = load_yaml(text, str(path))
    refused, notes = supported.check(data)
    if refused:
        raise RunError(f"{path}: not emulated by run --local: {', '.join(refused)}")
    return Document(data, text, str(path), notes)


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for tpl in supported.workflow_spec(doc).get("templates") or []:
        yield from [c for c in [tpl.get("container"), *(tpl.get("sidecars") or [])] if c]


def endpoints(doc: dict[str, Any]) -> list[str]:
    """The S3 endpoint URLs the document's containers are given (env `*ENDPOINT`)."""
    found = {
        str(e["value"]).rstrip("/")
        for c in _containers(doc)
        for e in c.get("env") or []
        if str(e.get("name", "")).endswith("ENDPOINT")
        and re.match(r"https?://", str(e.get("value", "")))
    }
    return sorted(found)


def buckets(doc: dict[str, Any]) -> list[str]:
    """Buckets the sidecars mount (`rclone mount REMOTE:BUCKET ...`)."""
    out = set()
    for c in _containers(doc):
        words = [*(c.get("command") or []), *(c.get("args") or [])]
        if "mount" in words:
            source = words[words.index("mount") + 1]
            if ":" in source:
                out.add(source.split(":", 1)[1].split("/", 1)[0])
    return sorted(out)


def _loopback(port: int) -> str:
    """A free loopback address (127.x.y.z) for `port`: runs side by side never collide."""
    for _ in range(50):
        host = f"127.{random.randint(1, 254)}.{random.randint(0, 254)}.{random.randint(1, 254)}"
        with socket.socket() as s:
            try:
                s.bind((host, port))
                return host
            except OSError:
                continue
    raise RunError(f"no free loopback address for port {port}")


# A dead S3 server ends the run after this long: the mounts' and clients' own retries would
# otherwise hold a read for many minutes (an outage of a few seconds is ridden out).
S3_GIVE_UP = 30


PROBE_TIMEOUT = 5  # seconds an S3 request may take to get any answer


def _answers(url: str) -> bool:
    """Whether S3 at `url` answers a request (any status: an anonymous ListBuckets gets 403)
    within PROBE_TIMEOUT. A TCP connect is no probe: the kernel accepts it for a frozen
    (SIGSTOPped) server too."""
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        # liveness only, nothing secret is sent: the embedded server's certificate is
        # self-signed for the YAML's host name, not for this address
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=PROBE_TIMEOUT, context=context
        )
    else:
        connection = http.client.HTTPConnection(
            parts.hostname or "", parts.port, timeout=PROBE_TIMEOUT
        )
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


@dataclass(frozen=True)
class Outcome:
    result: controller.Result
    report: dict[str, Any] | None
    report_file: str
    logs: Path


@dataclass
class Options:
    data_dir: Path
    parameters: dict[str, str]
    node_resources: dict[str, str]
    node_labels: dict[str, str]
    time_scale: float
    on_event: Callable[[str], None]
    on_start: Callable[[str], None]
    show: Callable[[Callable[[], tuple[int, int]], Callable[[], bool]], None] | None = None
    image_dirs: dict[str, Path] = field(default_factory=dict)  # IMAGE -> a folder of its root
    apply: list[Path] = field(default_factory=list)  # the cluster's objects (kubectl apply -f)
    image_users: dict[str, str] = field(default_factory=dict)  # image -> its USER
    s3_give_up: float = S3_GIVE_UP


@dataclass(frozen=True)
class Storage:
    """What the pods are given for S3: host names -> loopback address, secrets, CA to trust."""

    names: dict[str, str]
    secret: Callable[[str, str], str | None]
    trust: str = ""
    probe: str | None = None  # the S3 URL that must answer while pods run
    no_space: Callable[[], str | None] = lambda: None  # the embedded server's disk is full


def _hidden(urls: list[str]) -> list[str]:
    """The endpoints that do not resolve here: the embedded server answers for them."""
    return [u for u in urls if not storage.resolves(urlsplit(u).hostname or "")]


@contextlib.contextmanager
def _s3(doc: dict[str, Any], opts: Options, logs: Path, work: Path) -> Iterator[Storage]:
    """The S3 the document names: its own endpoint when that resolves here, else an embedded
    server answering for the endpoint's host name (HTTPS with a certificate the pods trust,
    when the URL is https)."""
    urls = endpoints(doc)
    hidden = _hidden(urls)
    if not hidden:
        where = ", ".join(urls) or "no S3 endpoint"
        opts.on_start(f"S3: {where} (keys from {storage.ACCESS_ENV}/{storage.SECRET_ENV})")
        probe = urls[0] if urls else None
        yield Storage({}, lambda _name, key: os.environ.get(key), probe=probe)
        return
    parts = [urlsplit(u) for u in hidden]
    kinds = {(p.scheme, p.port or (443 if p.scheme == "https" else 80)) for p in parts}
    if len(kinds) > 1:
        raise RunError(
            f"cannot stand in for these S3 endpoints with one server: {', '.join(hidden)}"
        )
    ((scheme, port),) = kinds
    address = _loopback(port)
    names = {p.hostname or "": address for p in parts}
    tls = None
    if scheme == "https":
        san = ",".join(f"DNS:{n}" for n in names)
        tls = apiserver.certificate(work, "s3", san)[::-1]
    for bucket in buckets(doc):
        (opts.data_dir / bucket).mkdir(parents=True, exist_ok=True)
    log = logs / "s3-server.log"
    with rclone.serve_s3(opts.data_dir, log, host=address, port=port, tls=tls) as server:
        opts.on_start(
            f"S3: embedded server {server.endpoint} over {opts.data_dir}/"
            f" answering for {', '.join(hidden)}"
        )
        keys = {storage.ACCESS_ENV: server.access_key, storage.SECRET_ENV: server.secret_key}

        def secret(_name: str, key: str) -> str | None:
            return keys.get(key, os.environ.get(key))

        yield Storage(
            names,
            secret,
            tls[0].read_text() if tls else "",
            server.endpoint,
            lambda: server.output.no_space,
        )


def run(doc: Document, opts: Options) -> Outcome:
    """Execute the document; stop every pod, server and mount when leaving, also on Ctrl-C.

    What it writes on this machine (data folder, logs, the embedded server's objects, the pods'
    folders) is the user's only: folders 0700, files 0600. Containers set their own umask.
    """
    old = os.umask(0o077)
    try:
        return _run(doc, opts)
    finally:
        os.umask(old)


def _run(doc: Document, opts: Options) -> Outcome:
    batch = carried_spec(doc.doc)
    if batch is not None and _hidden(endpoints(doc.doc)):
        datadir.check_input(batch, opts.data_dir)  # before anything is created or started
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise RunError(
            "run --local makes each pod in its own mount namespace (unshare, overlay, FUSE):"
            " run it as root where util-linux's unshare is installed"
        )
    spec = supported.workflow_spec(doc.doc)
    namespace = str((doc.doc.get("metadata") or {}).get("namespace") or "default")
    opts.data_dir.mkdir(parents=True, exist_ok=True)
    defaults = {
        p["name"]: str(p.get("value", ""))
        for p in (spec.get("arguments") or {}).get("parameters") or []
    }
    label = opts.parameters.get("run") or defaults.get("run") or "workflow"
    logs = opts.data_dir / ".oscar-batch-logs" / label
    logs.mkdir(parents=True, exist_ok=True)
    for folder in (logs.parent, logs):  # made world-readable by earlier versions
        folder.chmod(0o700)
    linger = controller.GRACE_SECONDS * opts.time_scale + 2
    gatekeepers = cluster.load(
        opts.apply,
        namespace,
        cluster.generated_rbac(carried_spec(doc.doc), doc.doc, namespace),
        _runtime_image(doc.doc),
        opts.image_users,
    )
    work = Path(tempfile.mkdtemp(prefix="oscar-batch-exec-"))
    holder: list[controller.Executor] = []
    with (
        lifetime.swept(work, linger),
        _s3(doc.doc, opts, logs, work) as s3,
        apiserver.serve(
            work / "api",
            gatekeepers,
            opts.node_resources,
            opts.node_labels,
            lambda: holder[0].pods() if holder else [],
        ) as api,
    ):
        runtime = _runtime_image(doc.doc)
        image = workflowpod.image_folders()
        path = workflowpod.image_path(runtime, opts.image_dirs)
        given = workflowpod.image_dirs(opts.image_dirs)
        fonts = runtimeimage.font_cache() if runtime else None
        names, secret = s3.names, s3.secret
        embedded = bool(names)

        def image_env(name: str) -> dict[str, str]:
            env = {}
            # the sidecar needs it against the embedded server only: added here, not in the YAML
            if embedded and str(Path(rclone.binary()).parent) in path(name):
                env.update(rclone.EMBEDDED_SERVER_ENV)
            if fonts and workflowpod.is_runtime(name, runtime):
                env["MPLCONFIGDIR"] = str(fonts)  # the Dockerfile's ENV
            return env

        def image_dirs(name: str) -> list[str]:
            if fonts and workflowpod.is_runtime(name, runtime):
                return [*given(name), str(fonts)]
            return given(name)

        host = workflowpod.Host(
            api_host=api.host,
            api_port=api.port,
            account_dir=api.accounts.folder_of,
            hosts=names,
            secret=secret,
            trust=s3.trust,
            image_path=path,
            image_env=image_env,
            image=image,
            image_dirs=image_dirs,
            hidden={"/etc": workflowpod.unreadable("/etc")},
        )

        def on_event(line: str) -> None:
            opts.on_event(line)
            name, _, phase = line.partition(": ")
            if name.endswith(".plan") and phase == "Succeeded" and holder:
                for said in _plan_log(holder[0], name, logs):
                    opts.on_start(said)

        settings = controller.Settings(
            host, work / "pods", logs, gatekeepers, opts.time_scale, opts.parameters, on_event
        )
        (work / "pods").mkdir()
        ex = controller.Executor(doc.doc, settings)
        holder.append(ex)
        outcome: list[controller.Result] = []
        failure: list[BaseException] = []
        finished = threading.Event()

        def go() -> None:
            try:
                outcome.append(ex.run())
            except BaseException as exc:  # handed to the main thread below
                failure.append(exc)
            finally:
                finished.set()

        threading.Thread(target=go, daemon=True).start()
        drawer = (
            threading.Thread(
                target=opts.show, args=(ex.files_progress, finished.is_set), daemon=True
            )
            if opts.show
            else None
        )
        if drawer:
            drawer.start()
        try:
            # an Event, not Thread.join: a join interrupted by KeyboardInterrupt can leave the
            # thread marked as ended while it still runs (CPython 3.11)
            down_since: float | None = None
            while not finished.wait(0.5):
                if s3.no_space():
                    # every later write fails the same way (rclone and the S3 client retry each
                    # for minutes); pods' logs are on that disk too, so say it here, now
                    ex.stop()
                    finished.wait(linger + 10)
                    raise RunError(
                        f"no space left on {opts.data_dir} (the embedded S3 server's folder,"
                        f" also the pods' logs): every pod was stopped; logs in {logs}"
                    )
                asked = time.monotonic()  # silence counts from the first unanswered request
                if s3.probe is None or _answers(s3.probe):
                    down_since = None
                    continue
                down_since = down_since or asked
                if time.monotonic() - down_since > opts.s3_give_up:
                    ex.stop()
                    finished.wait(linger + 10)
                    raise RunError(
                        f"S3 at {s3.probe} did not answer for {opts.s3_give_up:g} s:"
                        f" every pod was stopped; logs in {logs}"
                    )
        except BaseException:
            ex.stop()
            finished.wait(linger + 10)
            _release_own_lock(doc.doc, ex.globals["workflow.uid"], label, opts, s3)
            raise
        finally:
            if drawer:
                drawer.join(2)
        if failure:
            raise failure[0]
        result = outcome[0]
        report, where = _report(result, names, secret, opts.data_dir, spec)
    return Outcome(result, report, where, logs)


def _release_own_lock(
    doc: dict[str, Any], workflow_uid: str, run: str, opts: Options, s3: Storage
) -> None:
    """After a stop (Ctrl-C, SIGTERM): remove the run's lock when this workflow holds it (its
    plan pod took it), so the same command works again at once (the aggregate, which releases
    it, never ran). A lock of another workflow is left alone."""
    batch = carried_spec(doc)
    if batch is None:
        return
    where = layout.RunLayout.of(batch, run)
    with contextlib.suppress(OSError, OscarBatchError):
        if s3.names:  # the embedded server's objects are this folder's files
            path = opts.data_dir / where.bucket / where.lock
            if lock.parse(path.read_bytes()).workflow == workflow_uid:
                path.unlink()
                opts.on_start(f"stopped: released the lock of run {run}")
            return
        url = endpoints(doc)[0]
        client = storage.make_client(
            url, s3.secret("", storage.ACCESS_ENV) or "", s3.secret("", storage.SECRET_ENV) or ""
        )
        if lock.holder(client, batch, run) is not None and lock.release_if_mine(
            client, batch, run, workflow_uid
        ):
            opts.on_start(f"stopped: released the lock of run {run}")


def _plan_log(ex: controller.Executor, node_name: str, logs: Path) -> list[str]:
    """What the plan step said ("new run X", "resuming X: 36 done, 1 to retry"): its log,
    shown as `argo submit --log` shows a step's, without the shard ids it hands to Argo."""
    node = next((n for n in reversed(ex.nodes) if n.name == node_name and n.pods), None)
    if node is None:
        return []
    try:
        text = (logs / f"{node.pods[-1]}-main.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip() and not line.startswith("[")]


def carried_spec(doc: dict[str, Any]) -> spec_mod.BatchSpec | None:
    """The batch spec the plan step is given (its `spec` raw artifact), or None for a
    workflow that was not generated from one."""
    for tpl in supported.workflow_spec(doc).get("templates") or []:
        if "plan" not in ((tpl.get("container") or {}).get("command") or []):
            continue
        for artifact in (tpl.get("inputs") or {}).get("artifacts") or []:
            data = (artifact.get("raw") or {}).get("data")
            if artifact.get("name") == "spec" and isinstance(data, str):
                with contextlib.suppress(ValueError, OscarBatchError):
                    return spec_mod.validate(json.loads(data), "the plan step's spec")
    return None


def _runtime_image(doc: dict[str, Any]) -> str:
    for c in _containers(doc):
        if "stage" in (c.get("command") or []):
            return str(c.get("image", ""))
    return ""


def _report(
    result: controller.Result,
    names: dict[str, str],
    secret: Callable[[str, str], str | None],
    data_dir: Path,
    spec: dict[str, Any],
) -> tuple[dict[str, Any] | None, str]:
    """The aggregate's report.json (its output parameter `report`), read from S3."""
    location = next(
        (n.outputs["report"] for n in reversed(result.nodes) if n.outputs.get("report")), ""
    )
    if not location.startswith("s3://"):
        return None, ""
    bucket, key = location.removeprefix("s3://").split("/", 1)
    if names:
        local = data_dir / bucket / key
        try:
            return json.loads(local.read_text(encoding="utf-8")), str(local)
        except OSError:
            return None, location
    url = endpoints({"kind": "Workflow", "spec": spec})[0]
    access, secret_key = secret("", storage.ACCESS_ENV) or "", secret("", storage.SECRET_ENV) or ""
    client = storage.make_client(url, access, secret_key)
    try:
        return json.loads(client.get_object(bucket, key).read()), location
    except Exception:  # an unreadable report is said by the caller
        return None, location
