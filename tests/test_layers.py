"""The package's layers: imports point down, and the stage pods never load Hera."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import generator

PACKAGE = Path(generator.__file__).resolve().parent
# Lowest first. A module may import its own layer and those before it; `build` and `lint` are
# siblings that never import each other.
LAYERS: list[set[str]] = [
    {"errors", "forked"},
    {"spec"},
    {"clients"},
    {"bucket"},
    {"build", "lint"},
    {"stages"},
    {"local"},
    {"cli"},
    {"__main__"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _layer(module: str) -> str:
    """`generator.bucket.layout` -> `bucket`; `generator` itself (its version) -> `errors`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "errors"


def _imports(path: Path) -> set[str]:
    """Every `generator...` module a file imports, at any depth (function-level ones too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "generator":
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "generator")
    return found


def upward_imports(package: Path) -> list[str]:
    """`file: imports target (layer a > layer b)` for every import that points up or sideways."""
    wrong = []
    for path in sorted(package.rglob("*.py")):
        own = _layer(".".join(("generator", *path.relative_to(package).with_suffix("").parts)))
        for target in sorted(_imports(path)):
            theirs = _layer(target)
            if theirs not in RANK:  # `from generator import __version__`
                continue
            if theirs != own and RANK[theirs] >= RANK[own]:
                wrong.append(f"{path.relative_to(package)}: imports {target} ({theirs} >= {own})")
    return wrong


def test_every_module_belongs_to_a_layer() -> None:
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    tops -= {"__init__", "__pycache__", "schema", "templates", "py"}
    assert tops <= set(RANK), sorted(tops - set(RANK))


def test_imports_point_down_the_layers() -> None:
    assert upward_imports(PACKAGE) == []


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "generator"
    (bad / "bucket").mkdir(parents=True)
    (bad / "bucket" / "layout.py").write_text("from generator.stages import aggregate\n")
    (bad / "stages").mkdir()
    (bad / "stages" / "plan.py").write_text("def f():\n    from generator.local import run\n")
    assert upward_imports(bad) == [
        "bucket/layout.py: imports generator.stages (stages >= bucket)",
        "bucket/layout.py: imports generator.stages.aggregate (stages >= bucket)",
        "stages/plan.py: imports generator.local (local >= stages)",
        "stages/plan.py: imports generator.local.run (local >= stages)",
    ]


STAGE_ENTRY = """
import sys
import generator.__main__, generator.cli, generator.cli._stage
import generator.stages.plan, generator.stages.aggregate, generator.stages.pagedraw
from generator.cli import app
from typer.testing import CliRunner
for stage in ("plan", "aggregate"):
    assert CliRunner().invoke(app, ["stage", stage, "--help"]).exit_code == 0
print(sorted(m for m in sys.modules if m.split(".")[0] == "hera"))
"""


@pytest.mark.parametrize("extra", ["", "import generator.build.workflow"])
def test_the_stage_pods_never_import_hera(extra: str) -> None:
    """`oscar-batch stage plan|aggregate` starts every plan and aggregate pod: Hera costs 0.4 s."""
    out = subprocess.run(
        [sys.executable, "-c", STAGE_ENTRY.replace("import sys", f"import sys\n{extra}")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if extra:  # the check itself sees Hera when something does load it
        assert out.strip() != "[]"
    else:
        assert out.strip() == "[]"
