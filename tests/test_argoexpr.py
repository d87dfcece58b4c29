"""Argo's and Kubernetes' rules without servers: cases derived from dag_test.go, operator_test.go,
simple_template_test.go and expand_test.go."""

from __future__ import annotations

import pytest

from generator.local import argoexpr, kubeexpand
from generator.local import supported as emulated
from generator.local.argoexpr import Attempt, ExprError, TaskState

OK, FAIL, ERR = TaskState("Succeeded"), TaskState("Failed"), TaskState("Error")
SKIP, OMIT = TaskState("Skipped"), TaskState("Omitted")


def group(*items: str) -> TaskState:
    return TaskState(argoexpr.group_phase(items), items)


@pytest.mark.parametrize(
    ("depends", "expected"),
    [
        ("a", True),
        ("b", False),
        ("s", True),  # bare name: Succeeded || Skipped || Daemoned
        ("o", False),
        ("a && b", False),
        ("a || b", True),
        ("!b.Succeeded", True),
        ("b.Failed && a.Succeeded", True),
        ("e.Errored", True),
        ("e.Failed", False),
        ("(a || b) && !(b.Succeeded)", True),
        ("a || b && e.Succeeded", True),  # && binds tighter
        ("o.Omitted", True),
        ("task-with-dash.Succeeded", True),
    ],
)
def test_depends(depends: str, expected: bool) -> None:
    done = {"a": OK, "b": FAIL, "e": ERR, "s": SKIP, "o": OMIT, "task-with-dash": OK}
    assert argoexpr.evaluate(depends, done) is expected


def test_task_group_results_follow_dag_go() -> None:
    # one worker succeeded, one failed: the group Failed, AnySucceeded true
    mixed = group("Succeeded", "Failed")
    assert mixed.phase == "Failed"
    assert argoexpr.evaluate("work.AnySucceeded || work.AllFailed", {"work": mixed})
    assert not argoexpr.evaluate("work", {"work": mixed})
    assert argoexpr.evaluate("work.AllFailed", {"work": group("Failed", "Failed")})
    # issue 10 item 3: a worker in Error makes the generated condition false
    errored = group("Failed", "Error")
    assert errored.phase == "Error"
    assert not argoexpr.evaluate("work.AnySucceeded || work.AllFailed", {"work": errored})
    assert argoexpr.evaluate("work.Errored", {"work": errored})
    # an empty withParam list skips the task: AllFailed needs at least one child
    assert not argoexpr.evaluate("w.AllFailed", {"w": TaskState("Skipped", ())})


def test_depends_errors_and_names() -> None:
    assert argoexpr.dependencies("a.Succeeded || (b && !a.Failed)") == ["a", "b"]
    with pytest.raises(ExprError, match="task result 'Done'"):
        argoexpr.evaluate("a.Done", {"a": OK})
    with pytest.raises(ExprError, match=r"ends early|unexpected"):
        argoexpr.evaluate("a &&", {"a": OK})
    with pytest.raises(ExprError, match="ends early"):
        argoexpr.evaluate("(a", {"a": OK})


def test_dag_phase_handled_failure_and_omitted_branch() -> None:
    parents = {"plan": [], "work": ["plan"], "aggregate": ["work"]}
    # workers failed, the aggregate ran and succeeded: the DAG Succeeded (leaf decides)
    assert (
        argoexpr.dag_phase(
            {"plan": "Succeeded", "work": "Failed", "aggregate": "Succeeded"}, parents
        )
        == "Succeeded"
    )
    # the aggregate was omitted after failed workers: it inherits Failed
    assert (
        argoexpr.dag_phase({"plan": "Succeeded", "work": "Failed", "aggregate": "Omitted"}, parents)
        == "Failed"
    )
    assert (
        argoexpr.dag_phase({"plan": "Succeeded", "work": "Error", "aggregate": "Omitted"}, parents)
        == "Error"
    )
    assert (
        argoexpr.dag_phase(
            {"plan": "Succeeded", "work": "Succeeded", "aggregate": "Failed"}, parents
        )
        == "Failed"
    )
    assert (
        argoexpr.dag_phase(
            {"plan": "Succeeded", "work": "Skipped", "aggregate": "Omitted"}, parents
        )
        == "Succeeded"
    )
    assert (
        argoexpr.dag_phase({"plan": "Succeeded", "work": "Running"}, {"plan": [], "work": ["plan"]})
        == "Running"
    )


def test_substitution() -> None:
    scope = {"workflow.parameters.run": "r1", "item": "s-0001"}
    assert argoexpr.substitute("/x/{{workflow.parameters.run}}/{{ item }}", scope) == "/x/r1/s-0001"
    # unknown non-strict tags are written back (simple_template.go)
    assert argoexpr.substitute("{{ foo }} {{x.y}}", scope) == "{{ foo }} {{x.y}}"
    with pytest.raises(ExprError, match="failed to resolve"):
        argoexpr.substitute("{{inputs.parameters.nope}}", scope)
    with pytest.raises(ExprError, match="not emulated"):
        argoexpr.substitute("{{=sprig.trim(x)}}", scope)


def test_kubernetes_expansion() -> None:
    env = {"A": "1", "B": "two"}
    assert kubeexpand.expand("$(A)-$(B)", env) == "1-two"
    assert kubeexpand.expand("$$(A) $$ $(C) $x $", env) == "$(A) $ $(C) $x $"
    assert kubeexpand.expand("$(A", env) == "$(A"
    assert kubeexpand.environment([("X", "a"), ("Y", "$(X)b"), ("Z", "$(W)")], {"W": "w"}) == {
        "W": "w", "X": "a", "Y": "ab", "Z": "w",
    }  # fmt: skip


def test_durations() -> None:
    assert argoexpr.duration("30s") == 30
    assert argoexpr.duration("1h30m") == 5400
    assert argoexpr.duration(20) == 20
    assert argoexpr.duration("1.5m") == 90
    with pytest.raises(ExprError):
        argoexpr.duration("5 minutes")


STRATEGY = {
    "limit": 3,
    "retryPolicy": "Always",
    "backoff": {"duration": "30s", "factor": 2, "maxDuration": "30m"},
}


def test_backoff_grows_and_max_duration_counts_from_the_first_attempt() -> None:
    one = [Attempt(0, 10, "Failed")]
    d = argoexpr.retry(STRATEGY, one, 10)
    assert d.retry and d.wait == 30 and d.deadline == 1800
    two = [*one, Attempt(40, 100, "Failed")]
    assert argoexpr.retry(STRATEGY, two, 100).wait == 60
    # issue 10 item 2: a shard that ran longer than maxDuration is never retried
    long = [Attempt(0, 3600, "Failed")]
    assert argoexpr.retry(STRATEGY, long, 3600).message == "Max duration limit exceeded"
    near = [Attempt(0, 1790, "Failed")]
    assert argoexpr.retry(STRATEGY, near, 1790).message == "Backoff would exceed max duration limit"
    four = [Attempt(i * 10, i * 10 + 1, "Failed") for i in range(4)]
    assert argoexpr.retry(STRATEGY, four, 41).message == "No more retries left"
    capped = {"limit": 9, "backoff": {"duration": "10s", "factor": 3, "cap": "60s"}}
    assert argoexpr.retry(capped, [Attempt(0, 1, "Failed")] * 5, 2).wait == 60


@pytest.mark.parametrize(
    ("policy", "phase", "retried"),
    [("Always", "Error", True), ("OnFailure", "Error", False), ("OnFailure", "Failed", True),
     ("OnError", "Failed", False), ("OnError", "Error", True), (None, "Error", False)],
)  # fmt: skip
def test_retry_policy(policy: str | None, phase: str, retried: bool) -> None:
    strategy = {"limit": 2, **({"retryPolicy": policy} if policy else {})}
    assert argoexpr.retry(strategy, [Attempt(0, 1, phase)], 1).retry is retried


def test_allow_list_refuses_and_notes() -> None:
    doc = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"},
        "spec": {"entrypoint": "m", "podGC": {"strategy": "OnPodSuccess"}, "templates": [
            {"name": "m", "script": {"image": "x", "source": "y"}},
            {"name": "n", "container": {"image": "x", "imagePullPolicy": "Always"}, "memoize": {}},
            {"name": "o", "volumes": [{"name": "v", "hostPath": {"path": "/"}}]},
        ]},
    }  # fmt: skip
    refused, noted = emulated.check(doc)
    assert refused == [
        "spec.templates[0].script",
        "spec.templates[1].memoize",
        "spec.templates[2].volumes[0].hostPath",
    ]
    assert noted == ["imagePullPolicy", "podGC"]


def test_retry_expression_after_policy_and_limit() -> None:
    strategy = {"limit": 2, "retryPolicy": "Always",
                "expression": "lastRetry.status == 'Error' || asInt(lastRetry.exitCode) == 137"}  # fmt: skip
    killed = Attempt(0, 1, "Failed", "OOMKilled (exit code 137)", "137")
    verdict = Attempt(0, 1, "Failed", "Error (exit code 1)", "1")
    assert argoexpr.retry(strategy, [killed], 1).retry
    stopped = argoexpr.retry(strategy, [verdict], 1)
    assert not stopped.retry and stopped.message == "retryStrategy.expression evaluated to false"
    assert argoexpr.retry(strategy, [killed] * 3, 1).message == "No more retries left"
    with pytest.raises(argoexpr.ExprError, match="mismatched types"):
        argoexpr.truth("lastRetry.exitCode == 137", {"lastRetry.exitCode": "137"})
    with pytest.raises(argoexpr.ExprError, match="unknown name"):
        argoexpr.truth("lastRetry.code == '1'", {})


def test_a_when_reads_bare_words_as_strings_as_argo_does() -> None:
    # controller/steps.go shouldExecute: govaluate variables become strings
    def when(text: str) -> bool:
        return argoexpr.truth(text, {}, what="when", govaluate=True)

    assert when("Failed != Succeeded") and not when("Succeeded != Succeeded")
    assert when("'a b' == 'a b' && (x == y || 2 > 1)")
    assert when("1 != one") and not when("1 == '1'")  # mismatched types: never equal
    with pytest.raises(argoexpr.ExprError, match="when '1 < a': < of mismatched types"):
        when("1 < a")
    with pytest.raises(argoexpr.ExprError, match="cannot read when"):
        when("Failed ~ Succeeded")
