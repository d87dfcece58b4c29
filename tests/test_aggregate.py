"""Pure parts of the aggregate: result objects, index lines, the report's arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

from generator.bucket import layout, results
from generator.spec import model as spec
from generator.stages import aggregate
from tests.conftest import write_spec


def test_parse_result_with_log_tail() -> None:
    text = "exit_code 3\nseconds 1.250\noutputs 0\nreason timeout\ninvocation 0001-7\nidentity ab12\n--\nline one\nline -- two\n"
    assert results.parse_result(text) == {
        "exit_code": 3, "seconds": 1.25, "outputs": 0, "reason": "timeout", "error": "line one\nline -- two",
        "invocation": "0001-7", "identity": "ab12",
    }  # fmt: skip
    # results of a runner from before identities and invocations still parse
    assert results.parse_result("garbage") == {
        "exit_code": None,
        "seconds": None,
        "outputs": None,
        "reason": "",
        "error": "",
        "identity": "",
        "invocation": "",
    }


def test_index_lines_keep_tabs_in_keys() -> None:
    key = "in/tab\there\tand.jpg"
    line = f"{layout.file_id(key)}\t12\t{key}"
    assert layout.parse_index_line(line) == (layout.file_id(key), 12, key, "")
    weird = "in/line\nbreak\t.jpg"
    rejected = f"-\t0\t{json.dumps(weird)}\tkey contains a line break"
    assert layout.parse_index_line(rejected) == ("-", 0, weird, "key contains a line break")


def test_report_counts_ratio_and_shards(tmp_path: Path) -> None:
    s = spec.load(
        write_spec(
            tmp_path,
            "name: t\nservice: {name: s, image: a, script: script.sh}\ninput: {bucket: data}\nfailure: {max_failed_ratio: 0.25}\n",
        )
    )
    rows = [
        aggregate.Row("a", "succeeded", "0000", 0, 1.0),
        aggregate.Row("b", "succeeded", "0000", 0, 3.0),
        aggregate.Row("c", "failed", "0001", 2, 0.5, reason="failed", error="boom"),
        aggregate.Row("d", "missing", reason="no result"),
    ]
    report = aggregate.build_report(s, "r", {"created": 100.0, "workers": 2}, rows, now=104.0)
    assert (report["planned"], report["succeeded"], report["failed"], report["missing"]) == (
        4,
        2,
        1,
        1,
    )
    assert report["failed_ratio"] == 0.5 and not report["passed"]
    # 3 files processed (a failure counts) in 4 s; durations include the failed file's
    assert report["wall_seconds"] == 4.0 and report["throughput_files_per_s"] == 0.75
    assert report["file_seconds"]["mean"] == 1.5 and report["file_seconds"]["max"] == 3.0
    assert report["shards"] == {
        "0000": {"files": 2, "succeeded": 2, "failed": 0, "seconds": 4.0},
        "0001": {"files": 1, "succeeded": 0, "failed": 1, "seconds": 0.5},
    }
    assert [p["key"] for p in report["problems"]] == ["c", "d"]
    assert aggregate.csv_cells(rows[2]) == ["c", "failed", "0001", 2, 0.5, "", 0, "failed", "boom"]


def test_output_groups_from_one_listing() -> None:
    def result(key: str, status: str) -> tuple[str, float]:
        return f"r/results/0000/{layout.file_id(key)}.{status}", 1.0

    index = results.ResultIndex.build(
        [result("in/a.jpg", "ok"), result("in/a.jpg.2", "ok"), result("in/d/b.jpg", "ok"),
         result("in/bad.jpg", "fail"), result("in/d/b.jpg", "fail")]  # b: .fail at the same time
    )  # fmt: skip
    index_ok = results.ResultIndex.build([result("in/d/b.jpg", "ok")])
    listing = [  # S3 order: "a.jpg.2/" sorts before "a.jpg/"
        ("r/outputs/a.jpg.2/x.json", 1.0),
        ("r/outputs/a.jpg/sub/y.json", 1.0),
        ("r/outputs/a.jpg/z.csv", 1.0),
        ("r/outputs/bad.jpg/stale.json", 1.0),
        ("r/outputs/d/b.jpg/w.json", 1.0),
    ]
    assert list(results.output_groups(listing, "r/outputs/", "in/", index)) == [
        ("a.jpg.2", ["x.json"]),
        ("a.jpg", ["sub/y.json", "z.csv"]),
    ]  # bad.jpg failed, and b.jpg's latest result is a failure (a tie goes to .fail)
    assert list(results.output_groups(listing, "r/outputs/", "in/", index_ok)) == [
        ("d/b.jpg", ["w.json"])
    ]


def test_result_index_keeps_each_files_newest_result_in_any_listing_order() -> None:
    keys = [f"in/{i}.jpg" for i in range(50)]
    listing = []
    for n, key in enumerate(keys):  # attempt 1 in shard 0000: all ok, at t=1
        listing.append((f"r/results/0000/{layout.file_id(key)}.ok", 1.0))
        if n % 5 == 0:  # attempt 2 in shard 0001: every fifth failed, at t=2
            listing.append((f"r/results/0001/{layout.file_id(key)}.fail", 2.0))
    for order in (sorted(listing), sorted(listing, reverse=True), listing):
        index = results.ResultIndex.build(order)
        assert len(index) == 50
        for n, key in enumerate(keys):
            found = index.find(layout.file_id(key))
            assert found is not None and found.ok == (n % 5 != 0)
            assert found.shard == ("0001" if n % 5 == 0 else "0000")
    assert results.ResultIndex.build([]).find(layout.file_id("x")) is None
