"""Offline lint of Argo Workflow / WorkflowTemplate / CronWorkflow YAML.

The official Argo JSON schema (shipped in generator/schema/) made strict, because as shipped
it accepts any unknown field and types IntOrString as a string only; then the semantic checks
Argo's controller would make at submit time.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from generator.errors import LintError

SCHEMA_FILE = "argo-workflows-v4.1-schema.json"
DEF = "io.argoproj.workflow.v1alpha1."
KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
MAX_TEMPLATES = 200
MAX_DAG_TASKS = 200
TASK_RESULT = r"(?:Succeeded|Failed|Errored|Skipped|Omitted|Daemoned|AnySucceeded|AllFailed)"
DEPENDS_TOKEN = re.compile(rf"([A-Za-z0-9_][A-Za-z0-9_-]*)(?:\.{TASK_RESULT})?")
PARAM_REF = re.compile(r"\{\{\s*(inputs|workflow)\.parameters\.([A-Za-z0-9_-]+)\s*\}\}")
TASK_REF = re.compile(r"\{\{\s*tasks\.([A-Za-z0-9_-]+)\.")


@dataclass(frozen=True)
class Problem:
    """One finding: where in which file, and what is wrong."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(document)'}: {self.message}"


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Reject unknown fields everywhere, and accept ints where Kubernetes takes IntOrString."""
    schema = copy.deepcopy(schema)
    for definition in schema["definitions"].values():
        if definition.get("type") == "object" and "properties" in definition:
            definition.setdefault("additionalProperties", False)
    schema["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {
        "anyOf": [{"type": "string"}, {"type": "integer"}]
    }
    return schema


@functools.cache
def _validator(kind: str) -> Any:
    text = (resources.files("generator") / "schema" / SCHEMA_FILE).read_text(encoding="utf-8")
    schema = _strict(json.loads(text))
    root = {"$ref": f"#/definitions/{DEF}{kind}", "definitions": schema["definitions"]}
    cls = jsonschema.validators.validator_for(schema)
    return cls(root)


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def schema_problems(doc: dict[str, Any], file: str) -> Iterator[Problem]:
    """Schema violations, deepest cause first, one per location."""
    kind = doc.get("kind")
    if kind not in KINDS:
        yield Problem(file, "kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        return
    seen = set()
    for error in sorted(
        _validator(kind).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))
    ):
        best = jsonschema.exceptions.best_match([error, *error.context]) if error.context else error
        path = _path(best.absolute_path)
        if (path, best.message) in seen:
            continue
        seen.add((path, best.message))
        message = best.message
        if best.validator == "additionalProperties":
            message = message.replace("Additional properties are not allowed", "unknown field")
        yield Problem(file, path, message)


def _spec(doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
    if doc.get("kind") == "CronWorkflow":
        return (doc.get("spec") or {}).get("workflowSpec") or {}, "spec.workflowSpec"
    return doc.get("spec") or {}, "spec"


def _strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{path}[{i}]")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                return [*stack[stack.index(d) :], d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def _dag_problems(tpl: dict[str, Any], where: str, names: set[str], file: str) -> Iterator[Problem]:
    tasks = (tpl.get("dag") or {}).get("tasks") or []
    if len(tasks) > MAX_DAG_TASKS:
        yield Problem(
            file, f"{where}.dag.tasks", f"{len(tasks)} tasks; Argo allows {MAX_DAG_TASKS}"
        )
    task_names = {t.get("name") for t in tasks}
    graph: dict[str, set[str]] = {}
    for i, task in enumerate(tasks):
        here = f"{where}.dag.tasks[{i}]"
        deps = set(task.get("dependencies") or [])
        if task.get("depends"):
            if task.get("dependencies"):
                yield Problem(file, here, "has both depends and dependencies")
            if task.get("continueOn"):
                yield Problem(file, here, "has both depends and continueOn (Argo rejects it)")
            deps |= {m.group(1) for m in DEPENDS_TOKEN.finditer(task["depends"])}
        for d in sorted(deps):
            if d not in task_names:
                yield Problem(file, here, f"depends on unknown task {d!r}")
        graph[task.get("name", "")] = deps & task_names
        if task.get("template") and task["template"] not in names:
            yield Problem(file, f"{here}.template", f"unknown template {task['template']!r}")
        for path, text in _strings(task, here):
            for ref in TASK_REF.findall(text):
                if ref not in task_names:
                    yield Problem(file, path, f"references unknown task {ref!r}")
    cycle = _cycle(graph)
    if cycle:
        yield Problem(file, f"{where}.dag", f"dependency cycle: {' -> '.join(cycle)}")


def semantic_problems(doc: dict[str, Any], file: str) -> Iterator[Problem]:
    """Reference checks: entrypoint, templates, DAG dependencies, parameter references."""
    spec, base = _spec(doc)
    templates = spec.get("templates") or []
    if len(templates) > MAX_TEMPLATES:
        yield Problem(
            file, f"{base}.templates", f"{len(templates)} templates; Argo allows {MAX_TEMPLATES}"
        )
    names = {t.get("name") for t in templates}
    if not spec.get("workflowTemplateRef"):
        entry = spec.get("entrypoint")
        if doc.get("kind") in ("Workflow", "CronWorkflow") and not entry:
            yield Problem(file, f"{base}.entrypoint", "missing")
        elif entry and entry not in names:
            yield Problem(file, f"{base}.entrypoint", f"unknown template {entry!r}")
    if spec.get("onExit") and spec["onExit"] not in names:
        yield Problem(file, f"{base}.onExit", f"unknown template {spec['onExit']!r}")
    workflow_params = {p.get("name") for p in (spec.get("arguments") or {}).get("parameters") or []}
    for i, tpl in enumerate(templates):
        where = f"{base}.templates[{i}]"
        inputs = {p.get("name") for p in (tpl.get("inputs") or {}).get("parameters") or []}
        for path, text in _strings(tpl, where):
            for scope, name in PARAM_REF.findall(text):
                known = inputs if scope == "inputs" else workflow_params
                if name not in known:
                    yield Problem(file, path, f"{{{{{scope}.parameters.{name}}}}} is not declared")
        if tpl.get("dag"):
            yield from _dag_problems(tpl, where, names, file)
        for j, group in enumerate(tpl.get("steps") or []):
            for k, step in enumerate(group or []):
                if step.get("template") and step["template"] not in names:
                    path = f"{where}.steps[{j}][{k}].template"
                    yield Problem(file, path, f"unknown template {step['template']!r}")
        if tpl.get("activeDeadlineSeconds") is not None and (tpl.get("dag") or tpl.get("steps")):
            yield Problem(file, f"{where}.activeDeadlineSeconds", "allowed on leaf templates only")


def lint_text(text: str, file: str) -> list[Problem]:
    """Every problem of every document in a YAML text.

    Raises:
        LintError: the text is not YAML.
    """
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise LintError(f"{file}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    problems: list[Problem] = []
    for doc in docs:
        if not isinstance(doc, dict):
            problems.append(Problem(file, "", "not a mapping"))
            continue
        if doc.get("kind") not in KINDS and not str(doc.get("apiVersion", "")).startswith(
            "argoproj.io/"
        ):
            continue  # RBAC and Secret manifests written beside a workflow are not Argo's to check
        schema = list(schema_problems(doc, file))
        problems += schema
        if not any(p.path == "kind" for p in schema):
            problems += semantic_problems(doc, file)
    if not any(isinstance(d, dict) and d.get("kind") in KINDS for d in docs):
        problems.append(
            Problem(file, "", "no Argo Workflow, WorkflowTemplate or CronWorkflow found")
        )
    return problems


def lint_file(path: Path) -> list[Problem]:
    """`lint_text` of a file.

    Raises:
        LintError: the file cannot be read or is not YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LintError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return lint_text(text, str(path))
