"""The Argo Server side: settings as the `argo` CLI reads them, submit and get through Hera's
WorkflowsService, and what a run looks like from its workflow status (pure).

The token is kept out of every message and of `repr`.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.errors import OscarBatchError
from generator.spec import urls


class ArgoError(OscarBatchError):
    """The Argo Server could not be reached or refused the request."""


_TRUE = ("1", "true", "yes")


@dataclass(frozen=True)
class ArgoSettings:
    """Where the Argo Server is and how to talk to it."""

    server: str
    namespace: str
    token: str | None = field(default=None, repr=False)
    insecure: bool = False

    def ui_url(self, kind: str, name: str) -> str:
        """The Argo UI page of a submitted object."""
        route = {
            "Workflow": "workflows",
            "WorkflowTemplate": "workflow-templates",
            "CronWorkflow": "cron-workflows",
        }
        return f"{self.server.rstrip('/')}/{route.get(kind, 'workflows')}/{self.namespace}/{name}"


def settings(
    *,
    server: str | None,
    token: str | None,
    token_file: Path | None,
    namespace: str | None,
    insecure: bool | None,
    default_namespace: str,
    env: dict[str, str] | None = None,
) -> ArgoSettings:
    """Flags first, then the variables the `argo` CLI reads (ARGO_SERVER, ARGO_TOKEN,
    ARGO_NAMESPACE, ARGO_SECURE, ARGO_INSECURE_SKIP_VERIFY, ARGO_BASE_HREF).

    Raises:
        ArgoError: no server is given, or the token file cannot be read.
    """
    env = dict(os.environ if env is None else env)
    host = server or env.get("ARGO_SERVER")
    if not host:
        raise ArgoError("no Argo Server: pass --argo-server URL or set ARGO_SERVER")
    urls.no_credentials(host, "the Argo Server URL", "--token or ARGO_TOKEN", ArgoError)
    if not re.match(r"^https?://", host):
        secure = env.get("ARGO_SECURE", "true").lower() in _TRUE
        host = ("https://" if secure else "http://") + host
    base = env.get("ARGO_BASE_HREF", "").strip("/")
    host = host.rstrip("/") + (f"/{base}" if base else "") + "/"
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ArgoError(f"{token_file}: cannot read the token: {exc.strerror or exc}") from None
    token = token or env.get("ARGO_TOKEN") or None
    skip = (
        insecure
        if insecure is not None
        else env.get("ARGO_INSECURE_SKIP_VERIFY", "").lower() in _TRUE
    )
    return ArgoSettings(
        host, namespace or env.get("ARGO_NAMESPACE") or default_namespace, token, skip
    )


def _service(s: ArgoSettings) -> Any:
    from hera.workflows import WorkflowsService

    return WorkflowsService(
        host=s.server, token=s.token, namespace=s.namespace, verify_ssl=not s.insecure
    )


def _call(s: ArgoSettings, what: str, call: Any) -> Any:
    """Run a service call, turning every failure into one line without the token."""
    import requests
    from hera.exceptions import AlreadyExists, Forbidden, HeraException, NotFound, Unauthorized

    try:
        with warnings.catch_warnings():
            # Hera's generated service still calls pydantic's deprecated .json(); not ours to fix
            warnings.simplefilter("ignore", DeprecationWarning)
            return call()
    except requests.exceptions.SSLError:
        raise ArgoError(
            f"TLS verification failed for {s.server} (use --insecure for a self-signed server)"
        ) from None
    except requests.exceptions.RequestException as exc:
        raise ArgoError(
            f"cannot reach the Argo Server at {s.server}: {type(exc).__name__}"
        ) from None
    except Unauthorized:
        raise ArgoError(
            f"the Argo Server at {s.server} refused the token (401): check --token or ARGO_TOKEN"
        ) from None
    except Forbidden:
        raise ArgoError(f"not allowed to {what} in namespace {s.namespace!r} (403)") from None
    except AlreadyExists:
        raise ArgoError(
            f"cannot {what}: the name is already taken in namespace {s.namespace!r} (409)"
        ) from None
    except NotFound:
        raise ArgoError(f"cannot {what}: not found in namespace {s.namespace!r} (404)") from None
    except HeraException as exc:
        detail = str(exc).replace(s.token or "\0", "***")
        raise ArgoError(f"cannot {what}: {detail}") from None


def submit(s: ArgoSettings, doc: dict[str, Any]) -> str:
    """Create a Workflow, WorkflowTemplate or CronWorkflow; returns its name."""
    from hera.workflows import models as m

    kind = doc.get("kind", "Workflow")
    body = {**doc, "metadata": {**(doc.get("metadata") or {}), "namespace": s.namespace}}
    service = _service(s)
    if kind == "Workflow":
        req: Any = m.WorkflowCreateRequest(namespace=s.namespace, workflow=m.Workflow(**body))
        created = _call(s, "create the workflow", lambda: service.create_workflow(req))
    elif kind == "WorkflowTemplate":
        req = m.WorkflowTemplateCreateRequest(
            namespace=s.namespace, template=m.WorkflowTemplate(**body)
        )
        created = _call(
            s, "create the workflow template", lambda: service.create_workflow_template(req)
        )
    elif kind == "CronWorkflow":
        req = m.CreateCronWorkflowRequest(
            namespace=s.namespace, cron_workflow=m.CronWorkflow(**body)
        )
        created = _call(s, "create the cron workflow", lambda: service.create_cron_workflow(req))
    else:
        raise ArgoError(f"cannot submit kind {kind!r}")
    name: str = created.metadata.name
    return name


def get(s: ArgoSettings, name: str) -> dict[str, Any]:
    """A workflow as JSON (the Argo Server's shape)."""
    service = _service(s)
    wf = _call(s, f"get workflow {name!r}", lambda: service.get_workflow(name))
    data: dict[str, Any] = wf.model_dump(by_alias=True, exclude_none=True, mode="json")
    return data


def names(s: ArgoSettings) -> list[str]:
    """The namespace's workflows, newest first (`watch @latest`): only their names and
    creation times are asked for (`fields`), which Hera's list model cannot hold (it wants
    each workflow's spec), so this one call is a plain request."""
    import requests

    url = f"{s.server}api/v1/workflows/{s.namespace}"
    fields = "items.metadata.name,items.metadata.creationTimestamp"
    headers = {"Authorization": s.token} if s.token else {}

    def listing() -> Any:
        answer = requests.get(
            url, params={"fields": fields}, headers=headers, verify=not s.insecure, timeout=30
        )
        if answer.status_code == 401:
            raise ArgoError(
                f"the Argo Server at {s.server} refused the token (401): check --token or"
                " ARGO_TOKEN"
            )
        if answer.status_code != 200:
            raise ArgoError(
                f"cannot list workflows in namespace {s.namespace!r} ({answer.status_code})"
            )
        return answer.json()

    return newest_first(_call(s, "list workflows", listing).get("items") or [])


def newest_first(items: list[dict[str, Any]]) -> list[str]:
    """Workflow names by creation time, newest first (RFC 3339 stamps sort as text)."""
    dated = [
        (str(i["metadata"].get("creationTimestamp") or ""), str(i["metadata"]["name"]))
        for i in items
        if (i.get("metadata") or {}).get("name")
    ]
    return [name for _, name in sorted(dated, reverse=True)]


def stop(s: ArgoSettings, name: str) -> None:
    """Stop a workflow as `argo stop` does: pods stopped, exit handlers still run."""
    from hera.workflows import models as m

    service = _service(s)
    _call(
        s,
        f"stop workflow {name!r}",
        lambda: service.stop_workflow(name, m.WorkflowStopRequest(name=name)),
    )


@dataclass(frozen=True)
class RunState:
    """What `watch` shows: the workflow phase, workers by phase, files done."""

    phase: str
    workers: dict[str, int]
    files_done: int
    files_total: int
    elapsed: float
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed", "Error")

    @property
    def rate(self) -> float:
        return self.files_done / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self, name: str) -> dict[str, Any]:
        """The JSON `watch -o json` prints."""
        return {
            "name": name,
            "phase": self.phase,
            "workers": self.workers,
            "files_done": self.files_done,
            "files_total": self.files_total,
            "elapsed_seconds": round(self.elapsed, 3),
            "message": self.message,
        }


def _progress(text: Any) -> tuple[int, int]:
    match = re.match(r"^(\d+)/(\d+)$", str(text or ""))
    return (int(match[1]), int(match[2])) if match else (0, 0)


def _seconds(start: str | None, end: str | None, now: float) -> float:
    from datetime import datetime

    if not start:
        return 0.0
    begin = datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()
    finish = datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp() if end else now
    return max(0.0, finish - begin)


def run_state(wf: dict[str, Any], now: float) -> RunState:
    """Summarise a workflow's status: one worker per shard (its latest attempt), progress summed."""
    status = wf.get("status") or {}
    shards: dict[str, dict[str, Any]] = {}
    for node in (status.get("nodes") or {}).values():
        if node.get("templateName") != "worker" or node.get("type") != "Pod":
            continue
        params = (node.get("inputs") or {}).get("parameters") or []
        shard = next(
            (str(p.get("value")) for p in params if p.get("name") == "shard"), node.get("id", "")
        )
        best = shards.get(shard)
        if best is None or str(node.get("startedAt") or "") >= str(best.get("startedAt") or ""):
            shards[shard] = node
    workers: dict[str, int] = {}
    done = total = 0
    for node in shards.values():
        phase = node.get("phase") or "Pending"
        workers[phase] = workers.get(phase, 0) + 1
        n, m = _progress(node.get("progress"))
        done, total = done + n, total + m
    return RunState(
        phase=status.get("phase") or "Pending",
        workers=dict(sorted(workers.items())),
        files_done=done,
        files_total=total,
        elapsed=_seconds(status.get("startedAt"), status.get("finishedAt"), now),
        message=status.get("message") or "",
    )
