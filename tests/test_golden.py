"""workflows/ holds exactly what `make workflows` generates (rewritten only by that target)."""

from __future__ import annotations

import difflib

import pytest
import yaml

from generator import lint
from generator.build import golden

RENDERED = golden.render_all()


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_committed_workflow_is_up_to_date(name: str) -> None:
    path = golden.ROOT / "workflows" / name
    assert path.exists(), f"{path} missing: run `make workflows`"
    committed = path.read_text(encoding="utf-8")
    if committed != RENDERED[name]:
        a = yaml.safe_dump(yaml.safe_load(committed), sort_keys=True).splitlines()
        b = yaml.safe_dump(yaml.safe_load(RENDERED[name]), sort_keys=True).splitlines()
        diff = "\n".join(difflib.unified_diff(a, b, "committed", "generated", lineterm="", n=2))
        pytest.fail(
            f"workflows/{name} is stale; run `make workflows`:\n{diff or '(whitespace only)'}"
        )


def test_no_stray_files_in_workflows() -> None:
    assert sorted(p.name for p in (golden.ROOT / "workflows").glob("*.yaml")) == sorted(RENDERED)


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_golden_workflows_lint_clean(name: str) -> None:
    assert lint.lint_file(golden.ROOT / "workflows" / name) == []
