"""The generated workflow as Argo's controller and Kubernetes read it: depends, retries,
labels, accounts, Pod Security, CronWorkflow fields per Argo version."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator import lint
from generator.bucket import layout
from generator.build import rbac, workerpod, workflow
from generator.cli import app
from generator.local import argoexpr
from generator.spec import model as spec
from generator.spec import quantity
from tests.conftest import EXAMPLES, ROOT, write_spec

FISH = EXAMPLES / "fish-detector" / "batch.yaml"
# metadata.labels values (k8s.io/apimachinery/pkg/util/validation, IsValidLabelValue)
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def _doc(s: spec.BatchSpec) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(workflow.to_yaml(s))
    return doc


def _templates(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    wf = doc["spec"].get("workflowSpec", doc["spec"])
    return {t["name"]: t for t in wf["templates"]}


def _with(s: spec.BatchSpec, section: str, **values: Any) -> spec.BatchSpec:
    data = s.model_dump(mode="json")
    data[section].update(values)
    return spec.validate(data, "test")


@pytest.fixture(scope="module")
def fish() -> spec.BatchSpec:
    return spec.load(FISH)


# --- depends: the aggregate runs whatever the workers' outcome (dag.go) ---------------------


def _group_results(children: list[str]) -> dict[str, bool]:
    """TaskResults of a withParam task as v3.5-v4.1 compute them (workflow/controller/dag.go):
    the TaskGroup's phase is Succeeded unless a child Failed or Errored, then the phase of the
    last such child (executeDAGTask); AnySucceeded/AllFailed over the children
    (evaluateDependsLogic)."""
    phase = "Succeeded"
    for child in children:
        if child in ("Failed", "Error"):
            phase = child
    return {
        "Succeeded": phase == "Succeeded",
        "Failed": phase == "Failed",
        "Errored": phase == "Error",
        "Skipped": phase == "Skipped",
        "Omitted": phase == "Omitted",
        "Daemoned": False,
        "AnySucceeded": "Succeeded" in children,
        "AllFailed": bool(children) and all(c == "Failed" for c in children),
    }


def _evaluate(expression: str, results: dict[str, bool]) -> bool:
    """The depends expression with `||`/`&&`/`!` over one task's results (expr semantics)."""
    python = expression.replace("||", " or ").replace("&&", " and ").replace("!", " not ")
    python = re.sub(r"\bwork\.(\w+)", lambda m: str(results[m.group(1)]), python)
    assert re.fullmatch(r"[\sA-Za-z()]*", python), python
    return bool(eval(python))


@pytest.mark.parametrize(
    "children",
    [
        ["Succeeded", "Succeeded"],
        ["Succeeded", "Failed"],
        ["Failed", "Failed"],
        ["Error"],  # pod deleted, node lost, admission denied
        ["Failed", "Error"],
        ["Error", "Succeeded"],
    ],
)
def test_the_aggregate_runs_whatever_the_workers_outcome(
    fish: spec.BatchSpec, children: list[str]
) -> None:
    tasks = {t["name"]: t for t in _templates(_doc(fish))["main"]["dag"]["tasks"]}
    assert "continueOn" not in tasks["aggregate"]  # Argo rejects it beside depends
    assert _evaluate(tasks["aggregate"]["depends"], _group_results(children))


def test_the_aggregate_does_not_run_without_a_plan(fish: spec.BatchSpec) -> None:
    omitted = dict.fromkeys(_group_results([]), False) | {"Omitted": True}
    assert not _evaluate(workflow.AGGREGATE_DEPENDS, omitted)


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.5", "3.6", "3.7", "4.0", "4.1"])
def test_retries_cap_the_wait_never_the_attempts(fish: spec.BatchSpec, version: str) -> None:
    templates = _templates(_doc(_with(fish, "argo", version=version)))
    # what Argo retries (processNodeRetries, emulated by local/argoexpr.retry): the stages'
    # verdicts (exit 1) are final; a deleted pod (Error) or a killed one (137) is retried
    cases = {
        ("Failed", "Error (exit code 1)"): {"plan": False, "worker": True, "aggregate": False},
        ("Failed", "OOMKilled (exit code 137)"): {"plan": True, "worker": True, "aggregate": True},
        ("Error", "pod deleted"): {"plan": True, "worker": True, "aggregate": True},
    }
    for (phase, message), expected in cases.items():
        code = message.rpartition("exit code ")[2].rstrip(")") if "exit code" in message else "-1"
        attempt = argoexpr.Attempt(0.0, 1.0, phase, message, code)
        for name, retried in expected.items():
            decision = argoexpr.retry(templates[name]["retryStrategy"], [attempt], 1.0)
            assert decision.retry is retried, (name, phase, message)
    for name in ("plan", "worker", "aggregate"):
        strategy = templates[name]["retryStrategy"]
        assert strategy["limit"] >= 1
        backoff = strategy["backoff"]
        # maxDuration would become every retry pod's deadline (operator.go)
        assert "maxDuration" not in backoff
        # Backoff.cap exists from v3.7 (workflow_types.go); earlier, a constant wait
        assert ("cap" in backoff) == (version in ("3.7", "4.0", "4.1"))
        if "cap" not in backoff:
            assert backoff["factor"] == 1
    assert templates["worker"]["retryStrategy"]["limit"] == fish.argo.retries


# --- labels and the run name ------------------------------------------------------------------


def test_pod_labels_carry_only_generator_values(fish: spec.BatchSpec) -> None:
    text = workflow.to_yaml(fish)
    doc = yaml.safe_load(text)
    labels = doc["spec"]["podMetadata"]["labels"]
    assert all("{{" not in v and LABEL_VALUE.fullmatch(v) for v in labels.values())
    for t in doc["spec"]["templates"]:
        assert "{{" not in str((t.get("metadata") or {}).get("labels", {}))


def test_a_bad_run_name_stops_the_plan_before_any_s3_call(tmp_path: Path) -> None:
    s = spec.load(FISH)
    path = tmp_path / "spec.json"
    path.write_text(s.model_dump_json())
    out = CliRunner().invoke(
        app,
        ["stage", "plan", "--spec", str(path), "--run", "My Run/2",
         "--shards-out", str(tmp_path / "s.json"), "--cluster-from", str(tmp_path / "none")],
        env={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
    )  # fmt: skip
    assert out.exit_code == 1
    assert "run name 'My Run/2'" in out.stderr and "Traceback" not in out.stderr


# --- least privilege ---------------------------------------------------------------------------


def test_only_the_plan_reads_the_cluster_and_workers_get_no_token(fish: spec.BatchSpec) -> None:
    templates = _templates(_doc(fish))
    assert templates["plan"]["serviceAccountName"] == rbac.plan_account(fish)
    assert templates["aggregate"]["serviceAccountName"] == rbac.executor_account(fish)
    worker = templates["worker"]
    assert worker["automountServiceAccountToken"] is False
    assert worker["serviceAccountName"] == rbac.executor_account(fish)
    # Argo refuses automount false without an executor account (workflowpod.go)
    assert worker["executor"] == {"serviceAccountName": rbac.executor_account(fish)}
    docs = list(yaml.safe_load_all(rbac.to_yaml(fish)))
    bound: dict[str, set[str]] = {}
    for d in docs:
        if d["kind"].endswith("Binding"):
            for subject in d["subjects"]:
                bound.setdefault(subject["name"], set()).add(d["roleRef"]["name"])
    rules = {
        d["metadata"]["name"]: d["rules"] for d in docs if d["kind"] in ("Role", "ClusterRole")
    }
    executor_rights = {
        (g, r, v)
        for role in bound[rbac.executor_account(fish)]
        for rule in rules[role]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    # docs/workflow-rbac.md: the executor's minimum for >= v3.4
    assert executor_rights == {
        ("argoproj.io", "workflowtaskresults", "create"),
        ("argoproj.io", "workflowtaskresults", "patch"),
    }
    cluster_roles = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    assert [s["name"] for d in cluster_roles for s in d["subjects"]] == [rbac.plan_account(fish)]
    verbs = {v for rs in rules.values() for r in rs for v in r["verbs"]}
    assert "get" not in verbs  # nothing calls get without a Kueue queue
    token = next(d for d in docs if d["kind"] == "Secret")
    assert token["metadata"]["name"] == f"{rbac.executor_account(fish)}.service-account-token"
    assert token["type"] == "kubernetes.io/service-account-token"


def test_a_kueue_queue_grants_get_of_that_queue_only(fish: spec.BatchSpec) -> None:
    s = _with(fish, "planning", kueue_queue="team-a")
    rules = [r for d in rbac.manifests(s) if "rules" in d for r in d["rules"]]
    gets = [r for r in rules if "get" in r["verbs"]]
    assert {r["resources"][0] for r in gets} == {"localqueues", "clusterqueues"}
    assert next(r for r in gets if r["resources"] == ["localqueues"])["resourceNames"] == ["team-a"]


# --- Secrets and Pod Security ---------------------------------------------------------------


def test_rbac_output_never_overwrites_a_secret(tmp_path: Path) -> None:
    s = spec.load(
        write_spec(
            tmp_path,
            "name: k\nservice: {name: svc, image: alpine, script: script.sh, secrets: [API_TOKEN]}\n"
            "input: {bucket: data, credentials_secret: s3-keys}\n",
        )
    )
    text = rbac.to_yaml(s)
    for d in yaml.safe_load_all(text):
        assert "data" not in d and "stringData" not in d
        if d["kind"] == "Secret":  # only the token Kubernetes fills itself
            assert d["type"] == "kubernetes.io/service-account-token"
    assert "create secret generic s3-keys --from-env-file=" in text
    assert "create secret generic svc-secrets --from-env-file=" in text
    assert "API_TOKEN=..." in text


def test_pod_security_is_said_where_the_user_meets_it(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["generate", str(FISH), "--out-dir", str(tmp_path), "--rbac"])
    assert out.exit_code == 0
    assert "Pod Security" in out.stderr and "privileged" in out.stderr
    assert (
        "pod-security.kubernetes.io/enforce=privileged"
        in (tmp_path / "obsea-fish-rbac.yaml").read_text()
    )


# --- Argo versions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "field"),
    [("3.5", "schedule"), ("3.6", "schedules"), ("3.7", "schedules"), ("4.0", "schedules"),
     ("4.1", "schedules")],
)  # fmt: skip
def test_cron_fields_follow_the_argo_version(
    fish: spec.BatchSpec, version: str, field: str
) -> None:
    s = _with(fish, "argo", version=version, kind="CronWorkflow", schedule="0 3 * * *")
    text = workflow.to_yaml(s)
    cron = yaml.safe_load(text)["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron[field] == ("0 3 * * *" if field == "schedule" else ["0 3 * * *"])
    assert {"schedule", "schedules"} - {field} - set(cron) == {"schedule", "schedules"} - {field}
    if version != "3.5":  # the bundled schema is v4's
        assert lint.lint_text(text, "cron.yaml") == []


# --- the mount sidecar ---------------------------------------------------------------------------


def test_the_sidecar_unmounts_on_every_exit_and_has_memory_for_its_buffers(
    fish: spec.BatchSpec, tmp_path: Path
) -> None:
    for sidecar in _templates(_doc(fish))["worker"]["sidecars"][1:]:  # after the service's
        assert sidecar["command"][:2] == ["sh", "-c"]
        assert "fusermount3 -uz" in sidecar["command"][2] and "trap" in sidecar["command"][2]
        limit = quantity.parse(sidecar["resources"]["limits"]["memory"])
        assert limit >= workerpod.sidecar_memory_need() == 136 * 2**20
    out = CliRunner().invoke(app, ["generate", str(FISH), "--set", "worker.sidecar_memory=100Mi"])
    assert out.exit_code == 1 and out.stdout == ""
    assert "sidecar_memory 100Mi is below the 136Mi" in out.stderr
    assert out.stderr.count("\n") == 1


@pytest.mark.parametrize("version", ["3.5", "3.6", "3.7", "4.0", "4.1"])
def test_a_nightly_workflow_lints_clean_for_its_argo_version_only(version: str) -> None:
    nightly = spec.load(EXAMPLES / "yolov8" / "batch.yaml")
    text = workflow.to_yaml(_with(nightly, "argo", version=version))
    assert lint.lint_text(text, "nightly.yaml", version=version) == []
    # v3.5 knows only `schedule`, gone from v4; `schedules` exists from v3.6 (issue 10 item 11)
    other = "4.1" if version == "3.5" else "3.5"
    assert lint.lint_text(text, "nightly.yaml", version=other)


@pytest.mark.parametrize("version", ["3.5", "3.6", "3.7", "4.0", "4.1"])
def test_the_report_is_an_output_artifact_the_ui_shows_inline(
    fish: spec.BatchSpec, version: str
) -> None:
    s = _with(fish, "argo", version=version)
    text = workflow.to_yaml(s)
    assert lint.lint_text(text, "fish.yaml", version=version) == []
    artifacts = _templates(yaml.safe_load(text))["aggregate"]["outputs"]["artifacts"]
    where = layout.RunLayout(s.output_bucket, f"{s.output.prefix}{{{{workflow.parameters.run}}}}/")
    assert [(a["name"], a["path"], a["s3"]["key"]) for a in artifacts] == [
        ("report-html", "/tmp/oscar-batch/report.html", where.report_html),
        ("report-json", "/tmp/oscar-batch/report.json", where.report_json),
        ("compare-html", "/tmp/oscar-batch/compare.html", where.compare_html),
    ]
    for a in artifacts:
        # uncompressed, or the UI says "cannot be shown because it is a tgz"; optional, or an
        # aggregate stopped before writing it errors the node (executor.go, saveArtifact)
        assert a["archive"] == {"none": {}} and a["optional"] is True
        assert a["s3"]["bucket"] == s.output_bucket
        assert (a["s3"]["endpoint"], a["s3"]["insecure"]) == ("minio.minio:9000", True)
        assert a["s3"]["accessKeySecret"] == {
            "name": s.input.credentials_secret,
            "key": "AWS_ACCESS_KEY_ID",
        }
        assert a["s3"]["secretKeySecret"]["name"] == s.input.credentials_secret
    tls = _with(s, "input", endpoint="https://s3.example.org:8443")
    https = _templates(_doc(tls))["aggregate"]["outputs"]["artifacts"][0]["s3"]
    assert (https["endpoint"], https["insecure"]) == ("s3.example.org:8443", False)


def test_metrics_read_the_aggregate_outputs_and_feed_the_dashboard(fish: spec.BatchSpec) -> None:
    aggregate = _templates(_doc(fish))["aggregate"]
    declared = {p["name"] for p in aggregate["outputs"]["parameters"]}
    metrics = aggregate["metrics"]["prometheus"]
    for m in metrics:
        value = re.fullmatch(r"\{\{outputs\.parameters\.(\w+)\}\}", m["gauge"]["value"])
        assert value and value[1] in declared, m
        assert [label["key"] for label in m["labels"]][:2] == ["service", "run"]
        assert m["labels"][1]["value"] == "{{workflow.parameters.run}}"
    files = {m["labels"][2]["value"] for m in metrics if m["name"] == "oscar_batch_files"}
    assert files == {"succeeded", "failed", "missing"}
    # Argo exports a custom metric as argo_workflows_<name>; the dashboard queries exactly those
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    used = set(re.findall(r"argo_workflows_\w+", json.dumps(dashboard)))
    assert used == {f"argo_workflows_{m['name']}" for m in metrics}
    # the lint checks the metric fields as Argo's validator does
    broken = _doc(fish)
    _templates(broken)["aggregate"]["metrics"]["prometheus"][0]["help"] = ""
    problems = lint.lint_text(yaml.safe_dump(broken), "broken.yaml")
    assert [p.rule for p in problems] == ["metric"]
