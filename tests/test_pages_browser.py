"""The run's page in a real browser, as the Argo UI serves it (tests/browser.py): it renders
with scripts off and nothing fetched, its charts are drawn, a hostile key stays text, and a
screenshot at 1280 px is written (to $OSCAR_BATCH_SCREENSHOTS when set, to look at)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from generator.stages import pages
from tests import browser
from tests.test_pages import HOSTILE, _spec, elements, synthetic_report

pytestmark = pytest.mark.skipif(
    browser.BINARY is None,
    reason="no headless Chromium: apt-get install chromium-headless-shell (make setup does)",
)


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("OSCAR_BATCH_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _inked(png: Path) -> float:
    """The share of the screenshot that is not the page's white."""
    with Image.open(png) as img:
        gray = img.convert("L")
        histogram = gray.histogram()
    return 1 - sum(histogram[245:]) / sum(histogram)


def test_the_harness_sees_a_script_and_a_fetch_blocked(tmp_path: Path) -> None:
    (tmp_path / "bad.html").write_text(
        "<!DOCTYPE html><title>t</title><p id=x>static</p>"
        "<script>document.getElementById('x').textContent='ran'</script>"
        '<img src="http://example.com/a.png"><img src="data:image/png;base64,iVBORw0KGgo=">'
    )
    with browser.serve(tmp_path) as b:
        dom, console = b.dom("bad.html")
    assert ">static<" in dom  # the script did not run
    said = "\n".join(console)
    assert "Blocked script execution" in said and "violates" in said, console
    assert b.requests == ["/bad.html"]


@pytest.mark.parametrize(("name", "files", "workers"), [("report-1k", 1_000, 8),
                                                         ("report-500k", 500_000, 200)])  # fmt: skip
def test_report_page_renders_locked_down(
    tmp_path: Path, name: str, files: int, workers: int
) -> None:
    report = synthetic_report(_spec(tmp_path), files, workers, key="in/" + HOSTILE + "{i}.jpg")
    page = pages.report_page(report)
    (tmp_path / f"{name}.html").write_text(page, encoding="utf-8")
    with browser.serve(tmp_path) as b:
        dom, console = b.dom(f"{name}.html")
        shot = b.screenshot(f"{name}.html", _shots(tmp_path) / f"{name}.png", height=2400)
    assert console == []  # nothing blocked: the page needs no script and fetches nothing
    assert b.requests == [f"/{name}.html"] * 2
    found = elements(dom)
    assert "script" not in found.tags and "img" not in found.tags
    assert found.tags.count("svg") == 4 and found.tags.count("path") > 100
    assert "Run r1 of s" in dom and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert _inked(shot) > 0.05
    with Image.open(shot) as img:
        assert img.width == browser.WIDTH
