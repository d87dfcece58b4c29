"""The documentation: docs/cli.md is every command's current --help, and the README stays a
first screen that names every command."""

from __future__ import annotations

import re
from pathlib import Path

from generator.cli import reference

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _sections(page: str) -> dict[str, str]:
    return {
        m.group(1): m.group(2)
        for m in re.finditer(
            r"^## (oscar-batch[^\n(]*?)(?: \(.*\))?\n\n```text\n(.*?)```", page, re.M | re.S
        )
    }


def test_the_cli_reference_is_current() -> None:
    """`make docs` rewrites it; a changed option or help text without it fails here."""
    assert (DOCS / "cli.md").read_text() == reference.render()


def test_every_command_is_documented() -> None:
    sections = _sections((DOCS / "cli.md").read_text())
    assert {"oscar-batch generate", "oscar-batch run", "oscar-batch stage plan"} <= set(sections)
    for title, text in sections.items():
        description = text.split("\n\n", 2)[1] if text.count("\n\n") >= 2 else ""
        assert description.strip() and not description.lstrip().startswith(
            ("Options:", "Arguments:")
        ), title


def test_the_readme_is_one_page_naming_every_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 8 * 1024
    assert readme.index("make demo") < readme.index("## ")  # the two commands come first
    top = {t.split()[1] for t in _sections((DOCS / "cli.md").read_text()) if len(t.split()) == 2}
    for command in top - {"stage"}:
        assert f"`{command} " in readme, command


def test_every_page_linked_from_the_readme_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links
    for link in links:
        assert (ROOT / link).is_file(), link
    assert {p.name for p in DOCS.glob("*.md")} <= {Path(link).name for link in links}
