"""Lint decides Argo's own validator cases as Argo does, and passes all of Argo's examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import lint
from tests import argo_corpus

CASES = argo_corpus.cases()
# Argo rejects these because the WorkflowTemplate is missing from its (fake) cluster; offline,
# a template that is not among the files given is a note, not an error.
NEEDS_CLUSTER = {
    "v-undefinedtemplateref-undefinedtemplateref.yaml",
    "v-templaterefwithplaceholderinnameisnotskipped-templaterefwithplaceholderinname.yaml",
}


def _case_problems(case: argo_corpus.Case) -> list[lint.Problem]:
    report = lint.lint_paths([case.path], submit=case.mode == "submit")
    return [p for p in report.problems if p.document == 0]


@pytest.mark.parametrize("case", CASES, ids=[c.file.removesuffix(".yaml") for c in CASES])
def test_argo_validator_case(case: argo_corpus.Case) -> None:
    problems = _case_problems(case)
    errors = [p.message for p in problems if p.level == lint.ERROR]
    if case.file in NEEDS_CLUSTER:
        assert errors == [] and [p.rule for p in problems] == ["template-ref-not-given"]
    else:
        assert argo_corpus.verdict(case, errors) == "ok", (case.argo_message, errors)


EXAMPLES = argo_corpus.examples()
# `argo lint` and `argo submit` read YAML strictly by default (sigs.k8s.io/yaml
# YAMLToJSONStrict: duplicate keys refused), as our reader does: this example has
# `metadata.annotations` twice, and Argo's own CLI refuses it too.
REFUSED_BY_ARGO_STRICT = {"k8s-patch-json-workflow.yaml": "duplicate key 'annotations'"}


@pytest.mark.parametrize(
    "path", EXAMPLES, ids=[str(p.relative_to(argo_corpus.EXAMPLES)) for p in EXAMPLES]
)
def test_argo_example_is_clean(path: Path) -> None:
    errors = lint.lint_paths([path]).errors
    if path.name in REFUSED_BY_ARGO_STRICT:
        (error,) = errors
        assert error.rule == "yaml" and REFUSED_BY_ARGO_STRICT[path.name] in error.message
    else:
        assert errors == []


def test_the_whole_examples_folder_in_one_call() -> None:
    report = lint.lint_paths([argo_corpus.EXAMPLES])
    assert report.files == len(EXAMPLES) == 217
    assert [Path(p.file).name for p in report.errors] == list(REFUSED_BY_ARGO_STRICT)
