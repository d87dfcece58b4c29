"""The run's page: binned series, a self-contained page, escaped values, a size that does not
grow with the file count (the browser's view of it: test_pages_browser.py)."""

from __future__ import annotations

import json
import random
from html.parser import HTMLParser
from pathlib import Path

import pytest

from generator.spec import model as spec
from generator.stages import aggregate, pagedraw, pages, series
from tests.conftest import write_spec

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&$x$"


class Elements(HTMLParser):
    """Every element and every attribute that could fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "srcset")]


def elements(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    return parser


def _spec(tmp_path: Path) -> spec.BatchSpec:
    text = "name: t\nservice: {name: s, image: a, script: script.sh}\ninput: {bucket: data}\n"
    return spec.load(write_spec(tmp_path, text))


def synthetic_report(
    s: spec.BatchSpec, files: int, workers: int, key: str = "in/{i}.jpg"
) -> dict[str, object]:
    """A run of `files` files over `workers` shards: shard 1 is slow, shard 2 dies at 60%."""
    rng = random.Random(7)
    per = files // workers
    tally = aggregate.Tally()
    for w in range(workers):
        t = 1000.0 + rng.uniform(1, 5)
        for j in range(per):
            k = key.format(i=f"{w}-{j}")
            if w == 2 and j > per * 0.6:
                tally.add(
                    aggregate.Row(k, "missing", reason="no result: the worker did not finish")
                )
                continue
            d = rng.lognormvariate(-0.5, 0.6) * (3 if w == 1 else 1)
            t += d
            ok = rng.random() > 0.03
            status, reason = ("succeeded", "") if ok else ("failed", "timeout")
            tally.add(aggregate.Row(k, status, f"{w:04d}", 0, d, reason=reason, finished=t))
    plan = {
        "created": 1000.0,
        "workers": workers,
        "shards": [{"id": f"{w:04d}", "files": per} for w in range(workers)],
    }
    return tally.report(s, "r1", plan, now=t + 5)


def test_timeline_is_each_workers_share_done() -> None:
    got = series.timeline([10.0, 12.0, 70.0], [0, 0, 1], ["0000", "0001"], 10.0, {"0000": 4})
    assert got["bin_seconds"] == 1.0 and got["start"] == 10.0 and got["band"] is None
    assert len(got["lines"]["0000"]) == series.TIME_BINS + 1
    assert got["lines"]["0000"][-1] == 50.0  # 2 of the 4 the plan gave it: a dead worker
    assert got["lines"]["0001"][-2:] == [0.0, 100.0]  # its only file, in the last interval
    # a result stored before the plan's clock said it began moves the start back
    assert series.timeline([5.0], [0], ["0000"], 10.0, {})["start"] == 5.0
    assert series.timeline([], [], [], 10.0, {})["lines"] == {}


def test_timeline_of_many_workers_is_a_band_and_the_ones_behind() -> None:
    workers = [f"{i:04d}" for i in range(50)]
    stamps, owner = [], []
    for i in range(50):
        for j in range(10):  # each worker does 10 files in 10 s, worker 7 in 40 s
            stamps.append(100 + j * (4 if i == 7 else 1))
            owner.append(i)
    planned = {w: 10 for w in workers} | {"0009": 20}  # worker 9 stopped half way
    got = series.timeline(stamps, owner, workers, 100.0, planned)
    assert got["workers"] == 50 and list(got["lines"]) == ["0009", "0007"]
    assert got["band"]["min"][-1] == 50.0 and got["band"]["max"][-1] == 100.0
    assert len(json.dumps(got)) < 5_000


def test_histogram_goes_log_for_long_tails_and_counts_every_file() -> None:
    flat = series.histogram([0.0, 1.0, 1.0, 2.0])
    assert not flat["log"] and sum(flat["counts"]) == 4 and flat["edges"][-1] == 2.0
    tail = series.histogram(sorted([0.1] * 50 + [30.0]))
    assert tail["log"] and sum(tail["counts"]) == 51 and tail["counts"][-1] == 1
    assert series.histogram([])["counts"] == []


def test_reasons_are_bounded_and_keep_the_first_keys() -> None:
    reasons = series.Reasons()
    for i in range(6):
        reasons.add("missing", "", f"m{i}")
    for i in range(series.REASONS_SHOWN + 4):
        reasons.add("failed", f"r{i}", f"k{i}")
    out = reasons.series()
    assert out[0] == {"status": "missing", "reason": "missing", "files": 6,
                      "examples": ["m0", "m1", "m2"]}  # fmt: skip
    assert len(out) == series.REASONS_SHOWN + 1
    assert out[1] == {"status": "failed", "reason": "other", "files": 5,
                      "examples": ["k19", "k20", "k21"]}  # fmt: skip


def test_page_is_self_contained_and_escapes_what_a_run_holds(tmp_path: Path) -> None:
    report = synthetic_report(_spec(tmp_path), 400, 4, key=HOSTILE + "{i}")
    report["run"] = HOSTILE
    page = pages.report_page(report)
    found = elements(page)
    assert {"script", "img", "link", "iframe", "object", "embed"}.isdisjoint(found.tags)
    assert all(link.startswith("#") for link in found.links), found.links  # SVG's own ids only
    assert "url(" not in page.replace("url(#", "") and "@import" not in page
    assert found.tags.count("svg") == 4  # timeline, durations, reasons, shards
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "$x$" in page  # drawn as written, not as mathtext


def test_the_page_drawn_by_a_child_is_the_page_drawn_here(tmp_path: Path) -> None:
    report = synthetic_report(_spec(tmp_path), 400, 4, key=HOSTILE + "{i}")
    here = pages.report_page(report).encode()
    pagedraw.drawer.start()  # the aggregate pod's: the child imports matplotlib meanwhile
    assert pagedraw.page(report) == here
    assert pagedraw.page(report) == here  # no child left: drawn here


def test_page_size_does_not_grow_with_the_file_count(tmp_path: Path) -> None:
    s = _spec(tmp_path)
    small = pages.report_page(synthetic_report(s, 1_000, 8))
    large = pages.report_page(synthetic_report(s, 200_000, 40))
    assert len(large) < 1.5 * len(small) and len(large) < 300_000, (len(small), len(large))


@pytest.mark.parametrize("keys", ["timeline", "durations", "reasons", "shards"])
def test_a_report_without_some_series_still_draws(tmp_path: Path, keys: str) -> None:
    report = synthetic_report(_spec(tmp_path), 100, 2)
    del report[keys]  # a report.json of an older version lacks the first three
    assert elements(pages.report_page(report)).tags.count("svg") == 3


def test_a_planted_report_json_is_checked_not_trusted(tmp_path: Path) -> None:
    report = synthetic_report(_spec(tmp_path), 100, 2)
    report["timeline"]["lines"]["0000"] = "<b>not a curve</b>"  # type: ignore[index]
    report["durations"]["counts"] = [1, 2]  # type: ignore[index]
    report["reasons"] = [{"status": "failed", "reason": "x", "files": "9", "examples": []}]
    report["shards"] = {"0000": {"files": 1, "seconds": True, "failed": 0}}
    report["file_seconds"] = ["p50"]
    page = pages.report_page(report)
    assert elements(page).tags.count("svg") == 0
    assert page.count("cannot be drawn") == 4
    assert "lines.0000: Input should be a valid list" in page and "<b>not" not in page
