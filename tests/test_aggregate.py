"""Pure parts of the aggregate: result objects, index lines, the report's arithmetic."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest

from generator.bucket import layout, results
from generator.errors import StorageError
from generator.spec import model as spec
from generator.stages import aggregate, series
from tests.conftest import write_spec


def test_parse_result_of_format_1_with_log_tail() -> None:
    text = "exit_code 3\nseconds 1.250\noutputs 0\nreason timeout\ninvocation 0001-7\nidentity ab12\n--\nline one\nline -- two\n"
    assert results.parse_result("f" * 16, False, text) == results.Record(
        "f" * 16, False, 3, 1.25, 0, "0001-7", "ab12", "timeout", error="line one\nline -- two"
    )
    # results of a runner from before identities and invocations still parse
    assert results.parse_result("f" * 16, True, "garbage") == results.Record("f" * 16, True)


RECORDS = [
    results.Record("0" * 16, True, 0, 0.2, 2, "s-1", "v1", hashes=(("a b.json", "1" * 64), ("d/ü:x", "2" * 64))),
    results.Record("1" * 16, False, 3, 0.5, 0, "s-1", "v1", "timeout", "cannot store x", "end 9\nlog\x00tail"),
    results.Record("2" * 16, True, 0, 0.1, 0, "s-2", "v1", hashes=()),
    results.Record("3" * 16, False, 1, 0.1, 0, "s-2", "v1", "failed", error="ok 4444444444444444 0 1 1 s-3"),
    results.Record("5" * 16, True, 0, 0.3, 1, "s-3", "v1", error="warn: low light", hashes=(("o", "3" * 64),)),
]  # fmt: skip


def test_format_3_round_trips_and_a_cut_object_gives_nothing() -> None:
    data = results.encode("0003", "v1", RECORDS)
    assert results.parse_batch(data) == RECORDS
    # killed while writing the records, the log tails or the hashes: none of them counts
    assert all(results.parse_batch(data[:cut]) is None for cut in range(len(data)))
    assert results.parse_batch(data.replace(b"end 5", b"end 6")) is None
    # the hashes' last line is the proof: a cut that leaves a whole hash line last is still cut
    assert results.parse_batch(data[: data.rindex(b"\n", 0, -1) + 1]) is None


def test_hash_lines_as_sha256sum_escapes_them_and_as_find_lists_them() -> None:
    odd = results.Record(
        "6" * 16, True, 0, 0.1, 2, "s-4", hashes=(("a\\b", "4" * 64), ("n\nl", "5" * 64))
    )
    assert results.parse_batch(results.encode("0000", "", [odd])) == [odd]
    # what the runner's commit writes: `find` of a folder holding folders prefixes nothing, a
    # failure's folder is never hashed, and a line under no record's folder is ignored
    data = (
        b"oscar-batch-results 3 0000 -\nok " + b"7" * 16 + b" 0 0.1 2 s-5 3/o/2\nend 1 0\n"
        + b"\\" + b"8" * 64 + b"  3/o/2/sub/x\\ny\n" + b"9" * 64 + b"  3/o/2/z\n"
        + b"a" * 64 + b"  3/o/1/other\n" + results.HASHED_END
    )  # fmt: skip
    (record,) = results.parse_batch(data) or []
    assert record.hashes == (("sub/x\ny", "8" * 64), ("z", "9" * 64))


def test_format_2_objects_of_earlier_runs_still_read() -> None:
    head = (
        b"oscar-batch-results 2 0003 v1\n"
        b"ok " + b"0" * 16 + b" 0 0.2 2 s-1 " + b"1" * 64 + b":a%20b.json " + b"2" * 64 + b":d/%C3%BC%3Ax\n"
        b"fail " + b"1" * 16 + b" 3 0.5 s-1 timeout 0 29 1\n"
        b"ok " + b"2" * 16 + b" 0 0.1 0 s-2\n"
        b"ok " + b"5" * 16 + b" 0 0.3 1 s-3 " + b"3" * 64 + b":o log 29 15\n"
        b"end 4\n"
    )  # fmt: skip
    data = head + b"cannot store x\nend 9\nlog\x00tail" + b"warn: low light"
    assert results.parse_batch(data) == [RECORDS[0], RECORDS[1], RECORDS[2], RECORDS[4]]
    # there, only the records needed the `end` line: a cut log blob only shortens tails
    assert results.parse_batch(data[: len(head) + 4]) is not None
    assert results.parse_batch(head[:-2]) is None


def test_a_newer_format_is_refused_naming_it() -> None:
    data = results.encode("0000", "v1", RECORDS).replace(b"results 3 ", b"results 4 ", 1)
    with pytest.raises(StorageError, match="result format 4 is newer"):
        results.parse_batch(data)


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


def test_durations_are_exact_whatever_the_file_count(tmp_path: Path) -> None:
    """Per-file figures live on disk (memory flat in N), yet the report's percentiles, totals
    and histogram are those of every duration sorted, and invocations are counted exactly."""
    s = spec.load(
        write_spec(tmp_path, "name: t\nservice: {name: s, image: a, script: script.sh}\n"
                   "input: {bucket: data}\n")
    )  # fmt: skip
    rng = random.Random(3)
    rows = [
        aggregate.Row(
            f"k{i}", rng.choice(["succeeded", "failed"]), f"{i % 7:04d}", 0,
            None if i % 50 == 0 else rng.lognormvariate(-1, 1.5),
            invocation=f"inv-{i // 3}" if i % 4 else "", finished=1000 + i / 10,
        )
        for i in range(20_000)
    ]  # fmt: skip
    got = aggregate.build_report(s, "r", {"created": 1000.0}, rows, now=3000.0)
    ordered = sorted(r.seconds for r in rows if r.seconds is not None)
    n = len(ordered)
    assert got["file_seconds"] == {
        "files": n,
        "total": round(sum(ordered), 3),
        "mean": round(sum(ordered) / n, 3),
        "p50": ordered[n // 2],
        "p95": ordered[int(0.95 * n)],
        "max": ordered[-1],
    }
    assert got["durations"] == series.histogram(ordered)
    assert got["invocations"] == len({r.invocation for r in rows if r.invocation})
    assert sum(got["durations"]["counts"]) == n and got["timeline"]["workers"] == 7


def _index(*entries: tuple[str, str, float, str]) -> results.Results:
    """Results of (key, ok|fail, stamp, shard) entries, one object each."""
    found = results.Results()
    for key, status, stamp, shard in entries:
        found.add(shard, stamp, [results.Record(layout.file_id(key), status == "ok")])
    return found


def test_output_groups_from_one_listing(request: pytest.FixtureRequest) -> None:
    index = _index(
        ("in/a.jpg", "ok", 1.0, "0000"), ("in/a.jpg.2", "ok", 1.0, "0000"),
        ("in/d/b.jpg", "ok", 1.0, "0000"), ("in/bad.jpg", "fail", 1.0, "0000"),
        ("in/d/b.jpg", "fail", 1.0, "0000"),  # b: a failure at the same time
    )  # fmt: skip
    index_ok = _index(("in/d/b.jpg", "ok", 1.0, "0000"))
    request.addfinalizer(index.close)
    request.addfinalizer(index_ok.close)
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
    ]  # bad.jpg failed, and b.jpg's latest result is a failure (a tie goes to the failure)
    assert list(results.output_groups(listing, "r/outputs/", "in/", index_ok)) == [
        ("d/b.jpg", ["w.json"])
    ]


def test_each_files_newest_result_wins_in_any_order() -> None:
    keys = [f"in/{i}.jpg" for i in range(50)]
    first = [("0000", 1.0, [results.Record(layout.file_id(k), True) for k in keys])]
    # attempt 2 in shard 0001, later: every fifth failed
    second = [("0001", 2.0, [results.Record(layout.file_id(k), False) for k in keys[::5]])]
    for order in (first + second, second + first):
        with results.Results() as found:
            for shard, stamp, records in order:
                found.add(shard, stamp, records)
            assert len(found) == 50
            for n, key in enumerate(keys):
                at = found.find(layout.file_id(key))
                assert at is not None and at.ok == (n % 5 != 0)
                assert at.shard == ("0001" if n % 5 == 0 else "0000")
            assert sorted(found.succeeded()) == sorted(
                layout.file_id(k) for n, k in enumerate(keys) if n % 5
            )
    with results.Results() as empty:
        assert empty.find(layout.file_id("x")) is None


def test_report_csv_lines_read_back_as_written() -> None:
    cells = ["a,b", 'say "hi"', "two\nlines", "cr\rhere", "", "plain", 3, 0.5, "x" * 2000]
    line = aggregate.csv_line(cells)
    assert list(csv.reader(io.StringIO(line))) == [[str(c) for c in cells]]
    assert aggregate.csv_line(["a", "b"]) == "a,b\n"
