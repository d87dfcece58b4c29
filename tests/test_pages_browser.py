"""The run's page in a real browser, as the Argo UI serves it (tests/browser.py): it renders
with scripts off and nothing fetched, its charts are drawn, a hostile key stays text, and a
screenshot at 1280 px is written (to $OSCAR_BATCH_SCREENSHOTS when set, to look at)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from PIL import Image

from generator.stages import pages, series
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


def test_compare_page_renders_locked_down(tmp_path: Path) -> None:
    rng = random.Random(3)
    changes, classes_a, classes_b = series.Changes(), series.Classes(), series.Classes()
    for i in range(100_000):  # a new model: most files keep their detections, some gain
        a = rng.choice([0, 0, 1, 2, 3, 5, 8])
        b = max(0, a + rng.choice([0, 0, 0, 1, 1, 2, -1]))
        key = f"in/cam-{i % 9}/{i}.jpg"
        if i == 7:  # the file that changed most has a hostile key
            key, a, b = f"in/{HOSTILE}.jpg", 0, 12
        changes.add(key, "identical" if a == b else "differ", a, b, [] if a == b else ["d.json"])
    for label, n_a, n_b in (("fish", 900, 1200), ("crab", 300, 280), ("eel", 40, 95)):
        for _ in range(n_a):
            classes_a.add({"input_key": "k", "label": label})
        for _ in range(n_b):
            classes_b.add({"input_key": "k", "label": label})
    summary = {"files": 100_000, "identical": 40_000, "differ": 60_000, "only_a": 0,
               "only_b": 0, "neither": 0}  # fmt: skip
    page = pages.compare_page(summary, "yolo-v8", "yolo-v11", changes.series(),
                              series.class_totals(classes_a, classes_b))  # fmt: skip
    (tmp_path / "compare.html").write_text(page, encoding="utf-8")
    with browser.serve(tmp_path) as b:
        dom, console = b.dom("compare.html")
        shot = b.screenshot("compare.html", _shots(tmp_path) / "compare.png", height=2200)
    assert console == [] and b.requests == ["/compare.html"] * 2
    found = elements(dom)
    assert found.tags.count("svg") == 3 and "script" not in found.tags and "img" not in found.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert _inked(shot) > 0.05 and len(page) < 200_000
