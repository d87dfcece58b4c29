"""Hostile and careless input through the CLI: one line on stderr, exit 1, never a traceback.

Alias bombs, endless or special files, huge quantities, credentials in URLs, names that
only look valid, misshapen snapshots and objects files (issue 15 items 7, 10, 14).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import write_spec

runner = CliRunner()

SPEC = """\
name: demo
service: {image: alpine:3, script: script.sh}
input: {bucket: data, prefix: in}
"""
NODE: dict[str, Any] = {
    "kind": "Node",
    "metadata": {"name": "n1"},
    "status": {
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}


def one_line_error(args: list[str], code: int = 1) -> str:
    """Run the CLI; assert it failed with one line on stderr; return that line."""
    result = runner.invoke(app, args)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def snapshot(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def objects(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "objects.jsonl"
    path.write_text(text)
    return path


def plan_args(spec: Path, cluster: Path, listing: Path) -> list[str]:
    return ["plan", str(spec), "--cluster-from", str(cluster), "--objects-from", str(listing)]


# --- item 7: alias bombs, special files, sizes, quantities ---------------------------------

BOMB = "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_alias_bomb_spec_is_refused(tmp_path: Path) -> None:
    text = SPEC + 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + BOMB
    assert len(text) < 1000
    line = one_line_error(["generate", str(write_spec(tmp_path, text))])
    assert "aliases expand the document" in line


def test_alias_bomb_in_an_fdl_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text("x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + BOMB)
    spec = write_spec(tmp_path, SPEC.replace("image: alpine:3", "fdl: f.yaml"))
    assert "aliases expand" in one_line_error(["generate", str(spec)])


def test_harmless_anchors_still_work(tmp_path: Path) -> None:
    text = SPEC + "planning: &p {max_workers: 3}\nx-copy: *p\n"
    line = one_line_error(["generate", str(write_spec(tmp_path, text))])
    assert "unknown key 'x-copy'" in line  # parsed fine; the key itself is what is wrong


def test_recursive_alias_and_deep_nesting_are_refused(tmp_path: Path) -> None:
    line = one_line_error(["generate", str(write_spec(tmp_path, SPEC + "x: &r [*r]\n"))])
    assert "recursive alias" in line
    deep = SPEC + "x: " + "[" * 1000 + "]" * 1000 + "\n"
    assert "nested more than" in one_line_error(["generate", str(write_spec(tmp_path, deep))])


@pytest.mark.parametrize("target", ["spec", "script", "fdl"])
def test_dev_zero_and_fifos_are_refused_at_once(tmp_path: Path, target: str) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    if target == "spec":
        for special in ("/dev/zero", str(fifo)):
            assert "must be a regular file" in one_line_error(["generate", special])
        return
    key = "script: script.sh" if target == "script" else "image: alpine:3"
    for special in ("/dev/zero", str(fifo)):
        value = f"script: {special}" if target == "script" else f"fdl: {special}"
        spec = write_spec(tmp_path, SPEC.replace(key, value))
        assert "must be a regular file" in one_line_error(["generate", str(spec)])


def test_a_spec_over_one_mib_is_refused(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + "# " + "x" * (1 << 20) + "\n")
    assert "larger than 1 MiB" in one_line_error(["generate", str(spec)])


def test_huge_quantities_are_bounded(tmp_path: Path) -> None:
    text = SPEC.replace("image: alpine:3", "image: alpine:3, cpu: 1e100000000")
    line = one_line_error(["generate", str(write_spec(tmp_path, text))])
    assert "service.cpu" in line and "out of range" in line
    node = {**NODE, "status": {**NODE["status"], "allocatable": {"cpu": "1e100000000"}}}
    spec = write_spec(tmp_path, SPEC)
    args = plan_args(spec, snapshot(tmp_path, node), objects(tmp_path, '{"key": "a", "size": 1}'))
    line = one_line_error(args)
    assert "items[0].status.allocatable.cpu" in line and "out of range" in line


# --- item 10: credentials in URLs ----------------------------------------------------------


def test_credentials_in_the_spec_endpoint_are_refused(tmp_path: Path) -> None:
    text = SPEC.replace("prefix: in", "prefix: in, endpoint: 'http://me:s3cr3t@minio:9000'")
    line = one_line_error(["generate", str(write_spec(tmp_path, text))])
    assert "credentials" in line and "input.credentials_secret" in line
    assert "s3cr3t" not in line


def test_credentials_in_oscar_and_argo_urls_are_refused_and_redacted(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC)
    line = one_line_error(
        ["plan", str(spec), "--oscar", "https://me:s3cr3t@oscar.example", "--objects-from", "x"]
    )
    assert "--oscar-password" in line and "s3cr3t" not in line and "***@" in line
    line = one_line_error(["submit", str(spec), "--argo-server", "https://me:s3cr3t@argo:2746"])
    assert "ARGO_TOKEN" in line and "s3cr3t" not in line
    line = one_line_error(
        ["report", str(spec), "--endpoint", "http://me:s3cr3t@minio:9000"],
    )
    assert "AWS_SECRET_ACCESS_KEY" in line and "s3cr3t" not in line


# --- item 14: full matches, names, prefixes, run names, snapshots, objects files ------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("name: demo", 'name: "demo\\n"'), "is not a valid name"),
        (("image: alpine:3", "image: alpine:3, secrets_secret: Bad_Secret"), "Secret name"),
        (("image: alpine:3", "image: alpine:3, secrets: [1BAD]"), "environment variable name"),
        (("image: alpine:3", "image: alpine:3, secrets: [EVENT]"), "set by the runner"),
        (("image: alpine:3", "image: alpine:3, env: {OSCAR_BATCH_SHARD: x}"), "set by the runner"),
        (("image: alpine:3", "image: alpine:3, env: {K: v}, secrets: [K]"), "both in env"),
        (("prefix: in", "prefix: ./in"), "is not a folder path"),
        (("prefix: in", "prefix: a/./b/"), "is not a folder path"),
        (("prefix: in", "prefix: a//b/"), "is not a folder path"),
        (("bucket: data", "bucket: 'data\\n'"), "is not a valid bucket name"),
    ],
)
def test_names_and_prefixes_are_checked_whole(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    spec = write_spec(tmp_path, SPEC.replace(*change))
    assert message in one_line_error(["generate", str(spec)])


@pytest.mark.parametrize("run", ["/abs", "../x", "ok\n"])
def test_bad_run_names_are_refused_before_anything_starts(tmp_path: Path, run: str) -> None:
    data = tmp_path / "data"
    spec = write_spec(tmp_path, SPEC)
    line = one_line_error(["run", str(spec), "--local", "--data-dir", str(data), "--run", run])
    assert "run name" in line
    assert not data.exists()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"kind": "List", "items": [1, 2]}, "no Node objects"),
        ({"kind": "NodeList", "items": [{"status": "ready"}]}, "items[0].status: expected a"),
        (
            {"kind": "NodeList", "items": [{**NODE, "status": {"conditions": "Ready"}}]},
            "conditions: expected a list",
        ),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("\xff not json", "not JSON"),
    ],
)
def test_misshapen_snapshots_say_where(tmp_path: Path, doc: object, message: str) -> None:
    spec = write_spec(tmp_path, SPEC)
    listing = objects(tmp_path, '{"key": "a", "size": 1}')
    assert message in one_line_error(plan_args(spec, snapshot(tmp_path, doc), listing))


@pytest.mark.parametrize(
    "line",
    ['{"key": "a", "size": 1e400}', '{"key": "a", "size": -1}', "[" * 5000 + "]" * 5000, "[]"],
)
def test_bad_objects_files_say_which_line(tmp_path: Path, line: str) -> None:
    spec = write_spec(tmp_path, SPEC)
    args = plan_args(
        spec, snapshot(tmp_path, {"kind": "NodeList", "items": [NODE]}), objects(tmp_path, line)
    )
    assert "objects.jsonl:1:" in one_line_error(args)
