"""Executes an Argo workflow document on this machine, with Argo's controller semantics:
DAG tasks and `depends`, withParam fan-out, parallelism, retryStrategy, activeDeadlineSeconds,
output parameters, onExit, and the workflow phase; each pod through generator/podshim.py.

The rules themselves are pure (argoexpr, kubeexpand, pods); this module runs them against
processes and clocks. One time factor (`time_scale`) shortens Argo's waits here: retry
backoff (duration, maxDuration, cap) and the sidecars' termination grace period.
"""

from __future__ import annotations

import calendar
import contextlib
import copy
import functools
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.errors import RunError
from generator.local import argoexpr, argopod, authz, kubelet, lifetime, supported, workflowpod
from generator.local.argoexpr import Attempt, ExprError, TaskState
from generator.local.cluster import Cluster, remedy

GRACE_SECONDS = 30  # Kubernetes' default terminationGracePeriodSeconds
PROGRESS_POLL = 0.5  # Argo's executor polls the progress file every 3 s; faster here
QUOTA_POLL = 0.5  # how often a pod refused for exceeded quota is created again


@dataclass
class Node:
    """One task (or withParam item) of the run, as the UI would list it."""

    name: str
    phase: str = "Pending"
    message: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)
    detail: str = ""  # the last line its main container logged, when it did not succeed


@dataclass(frozen=True)
class Result:
    name: str
    phase: str
    message: str
    nodes: list[Node]


@dataclass
class Settings:
    host: workflowpod.Host
    work: Path
    logs: Path
    cluster: Cluster
    time_scale: float = 1 / 15
    parameters: dict[str, str] = field(default_factory=dict)
    on_event: Callable[[str], None] = lambda _line: None


def _fnv32a(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def _created(now: time.struct_time) -> dict[str, str]:
    """workflow.creationTimestamp and its strftime letters (operator.go setGlobalParameters)."""
    out = {"workflow.creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", now)}
    out["workflow.creationTimestamp.RFC3339"] = out["workflow.creationTimestamp"]
    out["workflow.creationTimestamp.s"] = str(calendar.timegm(now))
    for letter in "aAbBcCdDeFHIjklmMnprRSTuUVwWxXyYzZ":
        out[f"workflow.creationTimestamp.{letter}"] = time.strftime(f"%{letter}", now)
    return out


def _substituted(value: Any, scope: dict[str, str]) -> Any:
    if isinstance(value, str):
        return argoexpr.substitute(value, scope)
    if isinstance(value, list):
        return [_substituted(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: _substituted(v, scope) for k, v in value.items()}
    return value


def _scaled(strategy: dict[str, Any], scale: float) -> dict[str, Any]:
    out = copy.deepcopy(strategy)
    backoff = out.get("backoff") or {}
    for key in ("duration", "maxDuration", "cap"):
        if backoff.get(key):
            backoff[key] = f"{argoexpr.duration(backoff[key]) * scale:.3f}s"
    return out


class Executor:
    """One workflow run; `run()` returns when the workflow (and its onExit) finished."""

    def __init__(self, doc: dict[str, Any], settings: Settings) -> None:
        self.s = settings
        self.spec = supported.workflow_spec(doc)
        self.templates = {t["name"]: t for t in self.spec.get("templates") or []}
        meta = doc.get("metadata") or {}
        suffix = "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        if doc.get("kind") == "CronWorkflow":
            # cron/operator.go getChildWorkflowName: NAME-<scheduled time, Unix seconds>
            self.name = f"{meta.get('name')}-{int(time.time()) // 60 * 60}"
        elif doc.get("kind") == "WorkflowTemplate":
            self.name = f"{meta.get('name')}-{suffix}"  # argo submit --from workflowtemplate/NAME
        else:
            self.name = str(
                meta.get("name") or f"{meta.get('generateName') or 'workflow-'}{suffix}"
            )
        self.namespace = str(meta.get("namespace") or "default")
        params = {
            p["name"]: str(p.get("value", ""))
            for p in (self.spec.get("arguments") or {}).get("parameters") or []
        }
        unknown = sorted(set(settings.parameters) - set(params))
        if unknown:
            raise RunError(f"the workflow has no parameter {unknown[0]!r}")
        params.update(settings.parameters)
        self.globals = {
            "workflow.name": self.name,
            "workflow.namespace": self.namespace,
            "workflow.uid": str(uuid.uuid4()),
            **_created(time.gmtime()),
            "workflow.serviceAccountName": str(self.spec.get("serviceAccountName", "")),
            **{f"workflow.parameters.{k}": v for k, v in params.items()},
        }
        width = self.spec.get("parallelism")
        self.pool = threading.BoundedSemaphore(int(width)) if width else None
        self.stopping = threading.Event()
        self.stuck = ""  # a pod that would stay Pending on a cluster: what it waits for
        self.lock = threading.Lock()
        self.live: dict[str, tuple[subprocess.Popen[bytes], Path, dict[str, Any]]] = {}
        self.progress: dict[str, tuple[int, int]] = {}
        self.nodes: list[Node] = []
        deadline = self.spec.get("activeDeadlineSeconds")
        self.deadline = time.monotonic() + float(deadline) if deadline else None

    # ------------------------------------------------------------ public

    def run(self) -> Result:
        entry = self.templates.get(str(self.spec.get("entrypoint")))
        if entry is None:
            raise RunError(f"entrypoint {self.spec.get('entrypoint')!r} is not a template")
        node = self._template(entry, {}, self.name)
        phase, message = node.phase, node.message
        if self.spec.get("onExit") and not self.stopping.is_set():
            # operator.go: the exit handler sees workflow.status; its failure fails a
            # Succeeded workflow
            self.globals["workflow.status"] = phase
            handler = self.templates[str(self.spec["onExit"])]
            exit_node = self._template(handler, {}, f"{self.name}.onExit")
            if phase == "Succeeded" and exit_node.phase in ("Failed", "Error"):
                phase, message = exit_node.phase, exit_node.message
        if self.stuck:
            phase, message = "Running", self.stuck
        elif self.stopping.is_set():
            phase, message = "Failed", "Stopped with strategy 'Terminate'"
        return Result(self.name, phase, message, self.nodes)

    def stop(self) -> None:
        """Stop every pod: its shim sees the stop file, stops the containers and ends."""
        self.stopping.set()
        with self.lock:
            folders = [folder.parent for _, folder, _ in self.live.values()]
        for folder in folders:
            (folder / "stop").touch()

    def pods(self) -> list[dict[str, Any]]:
        """The running pods as Pod objects (for the Kubernetes API stand-in)."""
        with self.lock:
            return [doc for _, _, doc in self.live.values()]

    def files_progress(self) -> tuple[int, int]:
        """N/M summed over the main containers' ARGO_PROGRESS_FILE (the latest attempt each)."""
        with self.lock:
            for key, (_, folder, _doc) in self.live.items():
                with contextlib.suppress(OSError, ValueError):
                    n, m = (folder / "progress").read_text().strip().split("/")
                    self.progress[key.rsplit("#", 1)[0]] = (int(n), int(m))
            values = list(self.progress.values())
        return sum(n for n, _ in values), sum(m for _, m in values)

    # ------------------------------------------------------------ templates

    def _template(self, tpl: dict[str, Any], inputs: dict[str, str], name: str) -> Node:
        scope = dict(self.globals)
        for p in (tpl.get("inputs") or {}).get("parameters") or []:
            if p["name"] in inputs:
                scope[f"inputs.parameters.{p['name']}"] = inputs[p["name"]]
            elif "value" in p or "default" in p:
                scope[f"inputs.parameters.{p['name']}"] = str(p.get("value", p.get("default")))
            else:
                node = Node(name, "Error", f"inputs.parameters.{p['name']} was not supplied")
                self.nodes.append(node)
                return node
        if "dag" in tpl:
            return self._dag(tpl, scope, name)
        return self._retried(tpl, scope, name)

    def _dag(self, tpl: dict[str, Any], scope: dict[str, str], name: str) -> Node:
        tasks = {t["name"]: t for t in tpl["dag"]["tasks"]}
        parents = {t: argoexpr.dependencies(_depends(task)) for t, task in tasks.items()}
        for t, deps in parents.items():
            missing = [d for d in deps if d not in tasks]
            if missing:
                raise RunError(f"{name}: task {t} depends on unknown task {missing[0]!r}")
        width = tpl.get("parallelism")
        dag_pool = threading.BoundedSemaphore(int(width)) if width else None
        done: dict[str, TaskState] = {}
        task_scope = dict(scope)
        threads: dict[str, threading.Thread] = {}
        results: dict[str, TaskState] = {}
        ended = threading.Event()  # a task's thread has put its state in `results`
        while len(done) < len(tasks):
            ended.clear()  # before looking: a task that ends from here on wakes the wait below
            for t, task in tasks.items():
                if t in done or t in threads or not all(d in done for d in parents[t]):
                    continue
                depends = _depends(task)
                if self.stopping.is_set() or (depends and not argoexpr.evaluate(depends, done)):
                    done[t] = TaskState("Omitted")
                    self.nodes.append(Node(f"{name}.{t}", "Omitted"))
                    self.s.on_event(f"{t}: Omitted (depends {_depends(task)!r} is false)")
                    continue
                skipped = self._skipped(task, task_scope, f"{name}.{t}")
                if skipped:
                    done[t] = TaskState(skipped)
                    continue
                call = functools.partial(
                    self._task, task, task_scope, f"{name}.{t}", results, dag_pool
                )
                thread = threading.Thread(
                    target=self._guarded, args=(f"{name}.{t}", results, call, ended)
                )
                threads[t] = thread
                thread.start()
            for t in [t for t in threads if t in results]:
                del threads[t]
                done[t] = results[t]
            if threads and not any(t in results for t in threads):
                ended.wait()
        phase = argoexpr.dag_phase(
            {t: s.phase for t, s in done.items()}, parents, tpl["dag"].get("failFast", True)
        )
        node = Node(name, phase, "" if phase == "Succeeded" else _failure(self.nodes))
        self.nodes.append(node)
        return node

    def _skipped(self, task: dict[str, Any], scope: dict[str, str], name: str) -> str:
        """The phase of a task its `when` keeps from running: Skipped when false after
        substitution, Error when unreadable; "" when it runs (dag.go executeDAGTask, steps.go
        shouldExecute)."""
        if "when" not in task:
            return ""
        t = task["name"]
        try:
            when = argoexpr.substitute(str(task["when"]), scope)
            if argoexpr.truth(when, {}, what="when", govaluate=True):
                return ""
        except ExprError as exc:
            self.nodes.append(Node(name, "Error", str(exc)))
            self.s.on_event(f"{t}: Error: {exc}")
            return "Error"
        self.nodes.append(Node(name, "Skipped", f"when '{when}' evaluated false"))
        self.s.on_event(f"{t}: Skipped (when '{when}' evaluated false)")
        return "Skipped"

    def _guarded(
        self,
        name: str,
        results: dict[str, TaskState],
        call: Callable[[], None],
        ended: threading.Event,
    ) -> None:
        """`call` (a task); whatever goes wrong in it is that task's Error, never a crash.
        `ended` is set once its state is in `results`."""
        task = name.rsplit(".", 1)[-1]
        try:
            call()
        except Exception as exc:  # reported as the node's message
            self.nodes.append(Node(name, "Error", f"{type(exc).__name__}: {exc}"))
            self.s.on_event(f"{task}: Error: {exc}")
            results[task] = TaskState("Error")
        finally:
            ended.set()

    def _task(
        self,
        task: dict[str, Any],
        scope: dict[str, str],
        name: str,
        results: dict[str, TaskState],
        pool: threading.BoundedSemaphore | None,
    ) -> None:
        t = task["name"]
        try:
            tpl = self.templates[task["template"]]
            if "withParam" not in task:
                args = _arguments(task, scope)
                with pool or contextlib.nullcontext():
                    node = self._template(tpl, args, name)
                for k, v in node.outputs.items():
                    scope[f"tasks.{t}.outputs.parameters.{k}"] = v
                results[t] = TaskState(node.phase)
                return
            items = json.loads(argoexpr.substitute(str(task["withParam"]), scope))
            if not isinstance(items, list):
                raise RunError(f"{t}: withParam is not a JSON list")
        except (RunError, ValueError, KeyError) as exc:
            self.nodes.append(Node(name, "Error", str(exc)))
            self.s.on_event(f"{t}: Error: {exc}")
            results[t] = TaskState("Error")
            return
        if not items:
            results[t] = TaskState("Skipped", ())  # dag.go: "Skipped, empty params"
            self.nodes.append(Node(name, "Skipped", "Skipped, empty params"))
            return
        phases: list[str] = [""] * len(items)

        def one(i: int, item: Any) -> None:
            value = item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))
            with pool or contextlib.nullcontext():
                phases[i] = self._template(
                    tpl, _arguments(task, {**scope, "item": value}), f"{name}({i}:{value})"
                ).phase

        workers = [threading.Thread(target=one, args=(i, item)) for i, item in enumerate(items)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        results[t] = TaskState(argoexpr.group_phase(phases), tuple(phases))

    # ------------------------------------------------------------ pods

    def _retried(self, tpl: dict[str, Any], scope: dict[str, str], name: str) -> Node:
        node = Node(name)
        self.nodes.append(node)
        strategy = (
            _scaled(tpl["retryStrategy"], self.s.time_scale) if tpl.get("retryStrategy") else None
        )
        deadline: float | None = None
        while True:
            pod_name = f"{self.name}-{tpl['name']}-{_fnv32a(f'{name}({len(node.attempts)})')}"
            started = time.time()
            limit = tpl.get("activeDeadlineSeconds")
            seconds = [float(limit)] if limit else []
            if deadline is not None:
                seconds.append(max(deadline - started, 0.0))
            if self.deadline is not None:
                seconds.append(max(self.deadline - time.monotonic(), 0.0))
            # {{retries}}: the attempt number, in a template with a retryStrategy
            attempt_scope = {**scope, "retries": str(len(node.attempts))} if strategy else scope
            with self.pool or contextlib.nullcontext():
                phase, message, outputs = self._pod(
                    tpl, attempt_scope, node, pod_name, min(seconds) if seconds else None
                )
            node.attempts.append(
                Attempt(started, time.time(), phase, message, _exit_code(phase, message))
            )
            node.pods.append(pod_name)
            if phase == "Succeeded" or strategy is None or self.stopping.is_set():
                break
            decision = argoexpr.retry(strategy, node.attempts, time.time())
            if not decision.retry:
                message = decision.message or message
                break
            self.s.on_event(f"{name}: {phase} ({message}); retry in {decision.wait:.1f}s")
            deadline = decision.deadline
            if self.stopping.wait(decision.wait):
                break
        node.phase, node.message, node.outputs = phase, message, outputs
        if phase == "Pending":
            # on a cluster the node waits for ever (until a deadline): here the run ends
            self.stuck = f"{name}: pod {node.pods[-1]} stays Pending: {message}"
            self.stop()
        if phase != "Succeeded" and node.pods:
            last = node.attempts[-1].message if node.attempts else message
            node.detail = remedy(last) or _last_line(self.s.logs / f"{node.pods[-1]}-main.log")
        self.s.on_event(f"{name}: {phase}" + (f" ({message})" if message else ""))
        return node

    def _pod(
        self,
        tpl: dict[str, Any],
        scope: dict[str, str],
        node: Node,
        pod_name: str,
        deadline: float | None,
    ) -> tuple[str, str, dict[str, str]]:
        if self.stopping.is_set():
            return "Failed", "Stopped with strategy 'Terminate'", {}
        if "container" not in tpl:
            return "Error", f"template {tpl['name']} has no container", {}
        folder = Path(self.s.work) / pod_name
        folder.mkdir(parents=True)
        progress = folder / "argo"
        progress.mkdir()
        # A template's metrics are substituted and emitted by Argo's controller once the node
        # has completed, from its outputs (operator.go, computeMetrics); here they are noted
        # (local/supported), never part of the pod.
        pod_template = {k: v for k, v in tpl.items() if k != "metrics"}
        try:
            t = _substituted(pod_template, {**scope, "pod.name": pod_name})
            doc = argopod.pod(
                t, self.spec, name=pod_name, namespace=self.namespace,
                executor=self.s.cluster.executor,
            )  # fmt: skip
        except RunError as exc:
            return "Error", str(exc), {}
        admitted = self._create(doc)
        if isinstance(admitted, tuple):
            return admitted
        refused = self.s.cluster.kubelet_refusal(admitted)
        if refused:
            return "Pending", refused, {}
        try:
            description = self._describe(t, pod_name, node, folder, progress, deadline)
        except workflowpod.SecretMissing as exc:
            return "Error", str(exc), {}
        except RunError as exc:
            return "Error", str(exc), {}
        pod_file = folder / "pod.json"
        pod_file.write_text(json.dumps(description), encoding="utf-8")
        # --uts: a pod's hostname is its name (kubelet sets it), so what a container records of
        # its host (the run lock) is this pod's, not this machine's. -I: the shim runs this
        # installation's package, never a `generator` folder where `run` was started
        argv = ["unshare", "--mount", "--pid", "--uts", "--ipc", "--fork", "--propagation",
                "private", "--",
                sys.executable, "-I", "-m", kubelet.__name__, str(pod_file)]  # fmt: skip
        with (self.s.logs / f"{pod_name}.pod.log").open("ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                preexec_fn=lifetime.die_with_parent,
            )  # fmt: skip
        doc = {**admitted, "status": {"phase": "Running"}}
        key = f"{node.name}#{len(node.attempts)}"
        with self.lock:
            self.live[key] = (proc, progress, doc)
            self.progress.pop(node.name, None)
        if self.stopping.is_set():  # stop() may have run before this pod was listed
            (folder / "stop").touch()
        try:
            proc.wait()
        finally:
            self.files_progress()
            with self.lock:
                del self.live[key]
        try:
            result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "Error", f"pod {pod_name} ended without a result (exit {proc.returncode})", {}
        refused = self._report_refused(t)
        if refused and result["phase"] in ("Succeeded", "Failed"):
            return "Error", refused, {}
        return (
            str(result["phase"]),
            str(result.get("message", "")),
            dict(result.get("outputs") or {}),
        )

    def _create(self, doc: dict[str, Any]) -> dict[str, Any] | tuple[str, str, dict[str, str]]:
        """The pod as the apiserver admitted it, or the node's (phase, message, outputs).

        A refusal for "exceeded quota" is retried as Argo requeues it (util/errors
        isExceededQuotaErr), while another of the workflow's pods may still free room;
        any other refusal errors the node (operator.go executeTemplate, markNodeError).
        """
        while True:
            admitted, refusal = self.s.cluster.admit(doc, self.pods())
            if refusal is None:
                return admitted
            if not refusal.transient:
                return "Error", refusal.message, {}
            if self.stopping.is_set():
                return "Failed", "Stopped with strategy 'Terminate'", {}
            if not self.pods():
                return "Pending", refusal.message, {}
            self.stopping.wait(QUOTA_POLL)

    def _report_refused(self, t: dict[str, Any]) -> str | None:
        """The wait container reports each pod's outputs as a WorkflowTaskResult with the
        executor's token (cmd/argoexec: ReportOutputs): refused when RBAC does not allow it."""
        account = argopod.executor_account(t, self.spec) or argopod.service_account(t, self.spec)
        req = authz.Request("create", "argoproj.io", "workflowtaskresults", self.namespace)
        return self.s.cluster.authorize(authz.service_account(self.namespace, account), req)

    def _describe(
        self,
        t: dict[str, Any],
        pod_name: str,
        node: Node,
        folder: Path,
        progress: Path,
        deadline: float | None,
    ) -> dict[str, Any]:
        grace = GRACE_SECONDS * self.s.time_scale
        argo_env = {
            "ARGO_NODE_ID": f"{self.name}-{_fnv32a(node.name)}",
            "ARGO_INCLUDE_SCRIPT_OUTPUT": "false",
            "ARGO_DEADLINE": "0001-01-01T00:00:00Z",
            "ARGO_WORKFLOW_NAME": self.name,
            "ARGO_PROGRESS_FILE": workflowpod.PROGRESS_FILE,
            "ARGO_PROGRESS_PATCH_TICK_DURATION": "1m0s",
            "ARGO_PROGRESS_FILE_TICK_DURATION": "3s",
        }
        volumes = workflowpod.volumes(t, list(self.spec.get("volumes") or []), folder)
        # workflowpod.go createWorkflowPod mounts var-run-argo in every container; the
        # ServiceAccount admission plugin the token in every container too
        volumes["var-run-argo"] = str(progress)
        common: list[dict[str, Any]] = [
            {"volume": "var-run-argo", "path": workflowpod.PROGRESS_DIR}
        ]
        if workflowpod.automount(t, self.spec):
            account = argopod.service_account(t, self.spec)
            volumes["kube-api-access"] = str(self.s.host.account_dir(self.namespace, account))
            common.append(
                {
                    "volume": "kube-api-access",
                    "path": workflowpod.SERVICE_ACCOUNT_DIR,
                    "readOnly": True,
                }
            )
        pod_context = t.get("securityContext") or self.spec.get("securityContext") or {}
        written = workflowpod.files(self.s.host, pod_name)
        containers = []
        specs = [t["container"], *(t.get("sidecars") or [])]
        for i, c in enumerate(specs):
            c = {"name": "main", **c} if i == 0 else c
            log = self.s.logs / f"{pod_name}-{c.get('name', i)}.log"
            containers.append(
                {
                    **workflowpod.container(
                        c,
                        pod_name=pod_name,
                        argo_env=argo_env,
                        host=self.s.host,
                        namespace=self.namespace,
                        log=log,
                    ),
                    **workflowpod.security(c, pod_context),
                    "mounts": [*workflowpod.mounts(c), *common],
                    "files": [*(workflowpod.artifacts(t) if i == 0 else []), *written],
                }
            )
        scratch = folder / "scratch"
        scratch.mkdir()
        outputs = []
        for p in (t.get("outputs") or {}).get("parameters") or []:
            value_from = p.get("valueFrom") or {}
            out = {"name": p["name"], "path": value_from["path"]}
            if "default" in value_from:
                out["default"] = str(value_from["default"])
            outputs.append(out)
        return {
            "hostname": pod_name,
            "scratch": str(scratch),
            "hidden": dict(self.s.host.hidden),
            "volumes": volumes,
            "containers": containers,
            "outputs": outputs,
            "deadline": deadline,
            "grace": grace,
            "result": str(folder / "result.json"),
            "stop": str(folder / "stop"),
        }


def _exit_code(phase: str, message: str) -> str:
    """The main container's exit code as the node's outputs carry it: "0" when it succeeded,
    the one its failure message names (`Error (exit code 137)`, as Argo words it), else -1."""
    if phase == "Succeeded":
        return "0"
    found = re.search(r"\(exit code (\d+)\)", message)
    return found.group(1) if found else "-1"


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(f.seek(0, os.SEEK_END) - 4096, 0))
            lines = [
                line for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()
            ]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def _depends(task: dict[str, Any]) -> str:
    if task.get("depends"):
        return str(task["depends"])
    # ancestry.go getTaskDependsLogic: `dependencies: [a, b]` is `a && b`
    return " && ".join(task.get("dependencies") or [])


def _arguments(task: dict[str, Any], scope: dict[str, str]) -> dict[str, str]:
    return {
        p["name"]: argoexpr.substitute(str(p.get("value", "")), scope)
        for p in (task.get("arguments") or {}).get("parameters") or []
    }


def _failure(nodes: list[Node]) -> str:
    for n in nodes:
        if n.phase in ("Failed", "Error") and n.message:
            return f"child '{n.name}' {n.phase.lower()}: {n.message}"
    return ""
