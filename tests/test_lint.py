"""Each lint rule has a file that must fail it, with Argo's words and the YAML path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator import lint
from generator.cli import app
from generator.errors import LintError
from tests import argo_corpus
from tests.conftest import ROOT

BASE: dict[str, Any] = yaml.safe_load((ROOT / "workflows" / "image-stats.yaml").read_text())
CRON = """\
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: nightly}
spec:
  SCHEDULE
  workflowSpec:
    entrypoint: main
    templates:
    - name: main
      container: {image: alpine}
"""


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


def _errors(tmp_path: Path, *docs: Any, name: str = "wf.yaml", **kw: Any) -> list[lint.Problem]:
    f = tmp_path / name
    f.write_text(yaml.safe_dump_all(docs))
    return lint.lint_paths([f], **kw).errors


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("unknown top field", _set(["spec", "entryPoint"], "main"), "spec.entryPoint", 'unknown field "spec.entryPoint"'),
    ("unknown nested field", lambda d: _worker(d)["container"].update(imagePullPolcy="Always"), "spec.templates[2].container.imagePullPolcy", "unknown field"),
    ("wrong type", _set(["spec", "parallelism"], "many"), "spec.parallelism", "cannot unmarshal string into spec.parallelism of type integer"),
    ("missing entrypoint template", _set(["spec", "entrypoint"], "nope"), "spec.entrypoint", "template name 'nope' undefined"),
    ("unknown task template", lambda d: _tasks(d)[0].update(template="ghost"), "spec.templates[3].dag.tasks[0].template", "templates.main.tasks.plan template name 'ghost' undefined"),
    ("unknown dependency", lambda d: _tasks(d)[1].update(depends="plann"), "spec.templates[3].dag.tasks", "templates.main sorting failed: invalid dependency plann"),
    ("cycle", lambda d: _tasks(d)[0].update(depends="aggregate"), "spec.templates[3].dag.tasks", "sorting failed: graph with cycle"),
    ("depends with continueOn", lambda d: _tasks(d)[2].update(continueOn={"failed": True}), "spec.templates[3].dag.tasks[2]", "cannot use 'continueOn' when using 'depends'"),
    ("undeclared input parameter", lambda d: _worker(d)["container"]["env"].append({"name": "X", "value": "{{inputs.parameters.shrd}}"}), "spec.templates[2].container.env", "failed to resolve {{inputs.parameters.shrd}}"),
    ("undeclared workflow parameter", lambda d: _worker(d)["container"]["env"].append({"name": "X", "value": "{{workflow.parameters.model}}"}), "spec.templates[2].container.env", "failed to resolve {{workflow.parameters.model}}"),
    ("unknown task output", lambda d: _tasks(d)[1].update(withParam="{{tasks.plan2.outputs.parameters.shards}}"), "spec.templates[3].dag.tasks[1].withParam", "failed to resolve {{tasks.plan2.outputs.parameters.shards}}"),
    ("deadline on a dag", lambda d: next(t for t in d["spec"]["templates"] if t["name"] == "main").update(activeDeadlineSeconds=5), "spec.templates[3].activeDeadlineSeconds", "only valid for leaf templates"),
    ("digit-leading task", lambda d: _tasks(d)[2].update(name="1aggregate"), "spec.templates[3].dag.tasks", "name cannot begin with a digit"),
    ("two template types", lambda d: _worker(d).update(script={"image": "x", "source": "x"}), "spec.templates[2]", "multiple template types specified"),
    ("parallelism on a leaf", lambda d: _worker(d).update(parallelism=2), "spec.templates[2].parallelism", "only valid for steps and dag templates"),
    ("podGC strategy", _set(["spec", "podGC"], {"strategy": "Sometimes"}), "spec.podGC.strategy", "podGC.strategy unknown strategy 'Sometimes'"),
    ("withSequence count and end", lambda d: _tasks(d)[1].update(withParam=None, withSequence={"count": "2", "end": "3"}), "spec.templates[3].dag.tasks[1]", "only one of count or end"),
    ("output without source", lambda d: _worker(d).update(outputs={"parameters": [{"name": "n"}]}), "spec.templates[2].outputs.parameters[0]", "does not have valueFrom or value specified"),
    ("hdfs artifact without a user", lambda d: _worker(d).update(inputs={**_worker(d)["inputs"], "artifacts": [{"name": "o", "path": "/o", "hdfs": {"addresses": ["h:8020"], "path": "/x"}}]}), "spec.templates[2].inputs.artifacts[0].hdfs", "either templates.worker.inputs.artifacts.o.hdfs.hdfsUser"),
    ("podGC selector In without values", _set(["spec", "podGC"], {"labelSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}), "spec.podGC.labelSelector", "values set can't be empty"),
    ("mount over an artifact", lambda d: _worker(d).update(inputs={**_worker(d)["inputs"], "artifacts": [{"name": "a", "path": "/mnt/images", "raw": {"data": "x"}}]}), "spec.templates[2].inputs.artifacts[0].path", "already mounted"),
]  # fmt: skip


def test_base_file_is_clean(tmp_path: Path) -> None:
    assert _errors(tmp_path, BASE) == []


@pytest.mark.parametrize(("label", "mutate", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_catches_its_problem(
    tmp_path: Path, label: str, mutate: Callable[[dict[str, Any]], None], path: str, message: str
) -> None:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    problems = _errors(tmp_path, doc)
    assert any(p.path.startswith(path) and message in p.message for p in problems), problems
    assert all(str(p).startswith(f"{tmp_path / 'wf.yaml'}: ") for p in problems)


def test_numbers_and_booleans_where_argo_takes_them(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    _worker(doc)["retryStrategy"]["limit"] = "3"  # IntOrString
    doc["spec"]["arguments"]["parameters"].append({"name": "n", "value": 3, "enum": [3, 4]})
    _worker(doc)["container"]["resources"]["requests"]["cpu"] = 1  # Quantity
    _worker(doc)["container"]["env"].append(
        {"name": "FLAG", "value": True}
    )  # YAML scalar to string
    assert _errors(tmp_path, doc) == []


def test_template_defaults_supply_the_image(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    del _worker(doc)["container"]["image"]
    (problem,) = _errors(tmp_path, doc)
    assert problem.message.endswith("templates.worker.container.image may not be empty")
    doc["spec"]["templateDefaults"] = {"container": {"image": "alpine"}}
    assert _errors(tmp_path, doc) == []


def test_template_ref_resolved_among_the_files_given_or_noted(tmp_path: Path) -> None:
    wft = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "lib"},
        "spec": {"templates": [{"name": "hello", "container": {"image": "alpine"}}]},
    }
    wf = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "x-"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [[{"name": "a", "templateRef": {"name": "lib", "template": "TPL"}}]],
                }
            ],
        },
    }
    (tmp_path / "wft").mkdir()
    (tmp_path / "wft" / "lib.yaml").write_text(yaml.safe_dump(wft))
    good = copy.deepcopy(wf)
    good["spec"]["templates"][0]["steps"][0][0]["templateRef"]["template"] = "hello"
    (tmp_path / "wf.yaml").write_text(yaml.safe_dump(good))
    assert lint.lint_paths([tmp_path]).problems == []
    alone = lint.lint_paths([tmp_path / "wf.yaml"])
    assert alone.errors == [] and [p.rule for p in alone.problems] == ["template-ref-not-given"]
    (tmp_path / "wf.yaml").write_text(yaml.safe_dump(wf))
    (problem,) = lint.lint_paths([tmp_path]).errors
    assert "template reference lib.TPL not found" in problem.message


def test_other_kinds_are_noted_not_errors(tmp_path: Path) -> None:
    rbac = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}}
    binding = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowEventBinding",
        "metadata": {"name": "e"},
    }
    f = tmp_path / "mixed.yaml"
    f.write_text(yaml.safe_dump_all([BASE, rbac, binding]))
    report = lint.lint_paths([f])
    assert report.errors == [] and report.documents == 1
    assert [(p.document, p.level) for p in report.problems] == [(1, "note"), (2, "note")]
    assert "ServiceAccount (v1) is not a workflow kind" in str(report.problems[0])


@pytest.mark.parametrize(
    ("version", "schedule", "message"),
    [
        ("4.1", "schedules: ['0 * * * *']", None),
        (
            "4.1",
            "schedule: '0 * * * *'",
            "unknown field \"spec.schedule\": 'schedule' was removed in Argo 4.0",
        ),
        ("3.7", "schedule: '0 * * * *'", None),
        ("3.6", "schedules: ['0 * * * *']", None),
        ("3.5", "schedules: ['0 * * * *']", "'schedules' is new in Argo 3.6"),
        (
            "4.0",
            "schedules: ['61 * * * *']",
            "cron schedule 61 * * * * is malformed: end of range (61) above maximum (59)",
        ),
        ("4.1", "schedules: ['@every 1h30m', '@daily', '0 0 * JAN-MAR mon-fri']", None),
        ("4.1", "schedules: ['0 * * *']", "expected exactly 5 fields, found 4"),
    ],
)
def test_cron_schedules_by_version(
    tmp_path: Path, version: str, schedule: str, message: str | None
) -> None:
    f = tmp_path / "cron.yaml"
    f.write_text(CRON.replace("SCHEDULE", schedule))
    errors = lint.lint_paths([f], version=version).errors
    assert [message in p.message for p in errors] == ([] if message is None else [True]), errors


def test_rules_that_came_with_a_version(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    _worker(doc)["sidecars"] = [{"name": "wait", "image": "alpine"}]
    (problem,) = _errors(tmp_path, doc)
    assert problem.message.endswith(
        'templates.worker.sidecars: "wait" is a reserved Argo container name'
    )
    assert _errors(tmp_path, doc, version="4.0") == []
    dynamic = (
        argo_corpus.CASES
        / "v-dynamicstepnamewithinputparameters-dynamicstepnameworkflowlocal15896.yaml"
    )
    assert lint.lint_paths([dynamic], version="4.0").errors == []
    errors = lint.lint_paths([dynamic], version="3.7").errors
    assert errors and all(
        "steps[0].name 'run-__argo__internal__placeholder" in p.message for p in errors
    )


def test_cron_timezone(tmp_path: Path) -> None:
    f = tmp_path / "cron.yaml"
    f.write_text(CRON.replace("SCHEDULE", "schedules: ['0 * * * *']\n  timezone: Mars/Olympus"))
    (problem,) = lint.lint_paths([f]).errors
    assert problem.path == "spec.timezone" and 'invalid timezone "Mars/Olympus"' in problem.message


def test_fields_of_later_versions_are_refused_for_earlier_ones(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    _worker(doc)["pendingTimeout"] = "5m"
    assert _errors(tmp_path, doc) == []
    (problem,) = _errors(tmp_path, doc, version="4.0")
    assert "'pendingTimeout' is new in Argo 4.1 (checked for 4.0)" in problem.message
    doc = copy.deepcopy(BASE)
    cache = {"key": "k", "cache": {"configMap": {"name": "memo", "key": "entries"}}}
    _worker(doc)["memoize"] = cache  # a ConfigMapKeySelector up to 3.7, a reference from 4.0
    assert _errors(tmp_path, doc, version="3.7") == []
    (problem,) = _errors(tmp_path, doc, version="4.0")
    assert problem.message == 'unknown field "spec.templates[2].memoize.cache.configMap.key"'


def test_cli_json_folders_and_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(BASE))
    result = runner.invoke(app, ["lint", str(tmp_path), "-o", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "documents": 1,
        "errors": 0,
        "files": 1,
        "notes": 0,
        "problems": [],
    }
    bad = copy.deepcopy(BASE)
    bad["spec"]["entrypoint"] = "nope"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    result = runner.invoke(app, ["lint", str(tmp_path), "-o", "json"])
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["rule"] == "template-undefined" and problem["path"] == "spec.entrypoint"
    assert runner.invoke(app, ["lint", str(tmp_path), "--argo-version", "3.4"]).exit_code == 2


def test_unreadable_inputs(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("a: [b")
    (tmp_path / "twice.yaml").write_text("kind: Workflow\nkind: Workflow\n")
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(BASE))
    report = lint.lint_paths([tmp_path])
    assert [(Path(p.file).name, p.rule) for p in report.problems] == [
        ("broken.yaml", "yaml"),
        ("twice.yaml", "yaml"),
    ]
    assert "invalid YAML" in report.problems[0].message
    assert "refused YAML: duplicate key 'kind'" in report.problems[1].message
    with pytest.raises(LintError, match="invalid YAML"):
        lint.lint_text("a: [b", "broken.yaml")
    with pytest.raises(LintError, match="no such file"):
        lint.lint_paths([tmp_path / "absent.yaml"])


def _steps_workflow(kind: str, text: str, on_exit: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "steps": [[{"name": "a", "template": "leaf"}]]},
            {"name": "leaf", "container": {"image": "alpine", "args": [text]}},
        ],
    }
    if on_exit:  # Argo validates the entrypoint first: only templates after it see failures
        spec["templates"][0]["steps"][0][0]["template"] = "other"
        spec["templates"].append({"name": "other", "container": {"image": "alpine"}})
        spec["onExit"] = "leaf"
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "w"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("kind", "text", "on_exit", "clean"),
    [
        ("Workflow", "{{workflow.failures}}", False, False),
        ("Workflow", "{{workflow.failures}}", True, True),
        ("Workflow", "{{workflow.parameters.x}}", False, False),
        ("WorkflowTemplate", "{{workflow.parameters.x}}", False, True),
        (
            "Workflow",
            "{{workflow.name}} {{workflow.uid}} {{pod.name}} {{workflow.creationTimestamp.Y}}",
            False,
            True,
        ),
        ("Workflow", "{{workflow.labels.team}}", False, False),
        ("Workflow", "{{=sprig.trim(inputs.parameters.nope)}} {{custom.thing}}", False, True),
    ],
)
def test_built_in_references(
    tmp_path: Path, kind: str, text: str, on_exit: bool, clean: bool
) -> None:
    errors = _errors(tmp_path, _steps_workflow(kind, text, on_exit))
    assert (errors == []) == clean, errors
    if not clean:
        assert f"failed to resolve {text}" in errors[0].message
