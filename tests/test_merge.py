"""Merging hostile outputs (pure): each bad output is its own problem, the tables stay sound."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from generator.bucket import merge, records

DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 KB: RecursionError in json.loads
BIG_FIELD = b"a,b\n" + b"x" * (130 << 10) + b",1\n"  # over csv's 128 KiB field limit


def _merged(tmp_path: Path, outputs: list[tuple[str, str, bytes]]) -> merge.Merger:
    merger = merge.Merger(tmp_path, ("json", "jsonl", "csv"))
    for key, name, data in outputs:
        merger.add(key, name, data)
    merger.close()
    return merger


def test_unreadable_outputs_are_their_own_problem(tmp_path: Path) -> None:
    merger = _merged(
        tmp_path,
        [
            ("in/a.jpg", "deep.json", DEEP),
            ("in/b.jpg", "deep.jsonl", b'{"ok": 1}\n' + DEEP + b"\n"),
            ("in/c.jpg", "big.csv", BIG_FIELD),
            ("in/d.jpg", "latin1.csv", b"caf\xe9\n"),
            ("in/e.jpg", "good.json", b'{"n": 1}'),
        ],
    )
    assert merger.problems == [
        {"key": "in/a.jpg", "output": "deep.json", "reason": "JSON nested too deeply to merge"},
        {"key": "in/b.jpg", "output": "deep.jsonl", "reason": "line 2: JSON nested too deeply to merge"},
        {"key": "in/c.jpg", "output": "big.csv", "reason": "CSV: field larger than field limit (131072)"},
        {"key": "in/d.jpg", "output": "latin1.csv", "reason": "not UTF-8 text"},
    ]  # fmt: skip
    assert merger.stats == {"files": 1, "records": 1, "unreadable": 4}
    # nothing of a file that failed half-way reaches the table
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [
        {"input_key": "in/e.jpg", "output": "good.json", "n": 1}
    ]
    # compare counts records with the same readers: no exception either
    assert records.count("deep.json", DEEP) is None and records.count("big.csv", BIG_FIELD) is None


def test_results_csv_is_inert_keeps_every_value_and_the_tags(tmp_path: Path) -> None:
    merger = _merged(
        tmp_path,
        [
            ("in/a.jpg", "det.csv", b"=cmd(),n,n,input_key,output\n=HYPERLINK(\"x\"),1,2,forged,fake\n"),
            ("in/b.jpg", "det.csv", b"n,@name\n3,+1\n"),
        ],
    )  # fmt: skip
    merger.write_csv(tmp_path / "results.csv")
    table = list(csv.reader(io.StringIO((tmp_path / "results.csv").read_text())))
    assert table == [
        ["input_key", "output", "'=cmd()", "n", "n.1", "input_key.1", "output.1", "'@name"],
        ["in/a.jpg", "det.csv", '\'=HYPERLINK("x")', "1", "2", "forged", "fake", ""],
        ["in/b.jpg", "det.csv", "", "3", "", "", "", "'+1"],
    ]


def test_results_jsonl_stays_json_and_keeps_a_records_own_tag_names(tmp_path: Path) -> None:
    _merged(
        tmp_path,
        [("in/a.jpg", "m.json", b'{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e999, "e": 0.5,'
          b' "input_key": "forged"}')],
    )  # fmt: skip
    (line,) = (tmp_path / "results.jsonl").read_text().splitlines()
    strict = json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert strict == {
        "input_key": "in/a.jpg", "output": "m.json",
        "a": "NaN", "b": "Infinity", "c": "-Infinity", "d": "1e999", "e": 0.5,
        "input_key.1": "forged",
    }  # fmt: skip


def test_columns_never_overwrite() -> None:
    assert merge.columns(["a", "a", "a.1", "input_key", "output", "a"]) == [
        "a", "a.1", "a.1.1", "input_key.1", "output.1", "a.2",
    ]  # fmt: skip
