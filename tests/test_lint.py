"""Each lint check has a file that must fail it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from generator import lint
from generator.errors import LintError
from tests.conftest import ROOT

BASE: dict[str, Any] = yaml.safe_load((ROOT / "workflows" / "image-stats.yaml").read_text())


def _tasks(d: dict[str, Any]) -> list[dict[str, Any]]:
    return next(t for t in d["spec"]["templates"] if t["name"] == "main")["dag"]["tasks"]


def _worker(d: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in d["spec"]["templates"] if t["name"] == "worker")


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        node = d
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value

    return apply


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("unknown top field", _set(["spec", "entryPoint"], "main"), "spec", "unknown field ('entryPoint'"),
    ("unknown nested field", lambda d: _worker(d)["container"].update(imagePullPolcy="Always"), "spec.templates[2].container", "unknown field"),
    ("wrong type", _set(["spec", "parallelism"], "many"), "spec.parallelism", "is not of type 'integer'"),
    ("missing entrypoint template", _set(["spec", "entrypoint"], "nope"), "spec.entrypoint", "unknown template 'nope'"),
    ("unknown task template", lambda d: _tasks(d)[0].update(template="ghost"), "spec.templates[3].dag.tasks[0].template", "unknown template 'ghost'"),
    ("unknown dependency", lambda d: _tasks(d)[1].update(depends="plann"), "spec.templates[3].dag.tasks[1]", "depends on unknown task 'plann'"),
    ("cycle", lambda d: _tasks(d)[0].update(depends="aggregate"), "spec.templates[3].dag", "dependency cycle"),
    ("depends with continueOn", lambda d: _tasks(d)[2].update(continueOn={"failed": True}), "spec.templates[3].dag.tasks[2]", "both depends and continueOn"),
    ("undeclared input parameter", lambda d: _worker(d)["container"]["env"].append({"name": "X", "value": "{{inputs.parameters.shrd}}"}), "spec.templates[2].container.env", "{{inputs.parameters.shrd}} is not declared"),
    ("undeclared workflow parameter", lambda d: _worker(d)["container"]["env"].append({"name": "X", "value": "{{workflow.parameters.model}}"}), "spec.templates[2].container.env", "{{workflow.parameters.model}} is not declared"),
    ("unknown task output", lambda d: _tasks(d)[1].update(withParam="{{tasks.plan2.outputs.parameters.shards}}"), "spec.templates[3].dag.tasks[1].withParam", "unknown task 'plan2'"),
    ("deadline on a dag", lambda d: next(t for t in d["spec"]["templates"] if t["name"] == "main").update(activeDeadlineSeconds=5), "spec.templates[3].activeDeadlineSeconds", "leaf templates only"),
    ("wrong kind", _set(["kind"], "Workflw"), "kind", "expected one of"),
]  # fmt: skip


def test_base_file_is_clean() -> None:
    assert lint.lint_text(yaml.safe_dump(BASE), "base.yaml") == []


@pytest.mark.parametrize(("label", "mutate", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_check_catches_its_problem(
    label: str, mutate: Callable[[dict[str, Any]], None], path: str, message: str
) -> None:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    problems = lint.lint_text(yaml.safe_dump(doc), "bad.yaml")
    assert any(p.path.startswith(path) and message in p.message for p in problems), problems
    assert all(str(p).startswith("bad.yaml: ") for p in problems)


def test_int_or_string_accepts_both() -> None:
    doc = copy.deepcopy(BASE)
    _worker(doc)["retryStrategy"]["limit"] = "3"
    assert lint.lint_text(yaml.safe_dump(doc), "s.yaml") == []


def test_too_many_templates() -> None:
    doc = copy.deepcopy(BASE)
    doc["spec"]["templates"] += [{"name": f"t{i}", "container": {"image": "x"}} for i in range(200)]
    assert any(
        "Argo allows 200" in p.message for p in lint.lint_text(yaml.safe_dump(doc), "big.yaml")
    )


def test_non_argo_documents_are_skipped_but_one_argo_document_is_needed() -> None:
    rbac = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}}
    assert lint.lint_text(yaml.safe_dump_all([BASE, rbac]), "mixed.yaml") == []
    (problem,) = lint.lint_text(yaml.safe_dump(rbac), "rbac.yaml")
    assert "no Argo Workflow" in problem.message


def test_not_yaml() -> None:
    with pytest.raises(LintError, match="invalid YAML"):
        lint.lint_text("a: [b", "broken.yaml")
