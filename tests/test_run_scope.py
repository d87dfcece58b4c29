"""What a run is over (input bucket, prefix, globs) is part of its identity: another prefix is
another run, and a run named explicitly is never planned over other files (issue 20, item 7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from generator.bucket import identity
from generator.cli import app
from generator.spec import model as spec
from tests.conftest import requires_fuse, write_spec

COPY = '#!/bin/sh\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"\n'


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@requires_fuse
def test_another_prefix_is_another_run_and_never_overwrites_the_first(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for prefix, names in (("a", ["1", "2", "3"]), ("b", ["1", "2"])):
        (data / "pics" / prefix).mkdir(parents=True)
        for name in names:  # a/1.jpg and b/1.jpg share their key under the prefix
            (data / "pics" / prefix / f"{name}.jpg").write_bytes(f"{prefix}{name}".encode())
    path = write_spec(
        tmp_path / "spec",
        "name: sc\nservice: {name: c, image: alpine, script: script.sh, cpu: 100m, memory: 64Mi}\n"
        "input: {bucket: pics, prefix: a/}\nplanning: {max_workers: 1}\n",
        COPY,
    )
    first_run = identity.default_run(spec.load(path))
    assert identity.default_run(spec.load(path, ["input.prefix=b/"])) != first_run
    local = ("run", str(path), "--local", "--data-dir", str(data), "-o", "json")
    first = _cli(*local)
    assert first.exit_code == 0, first.output
    second = _cli(*local, "--set", "input.prefix=b/")
    assert second.exit_code == 0, second.output
    assert (json.loads(first.stdout)["planned"], json.loads(second.stdout)["planned"]) == (3, 2)
    listed = _cli("runs", str(path), "--data-dir", str(data), "-o", "json")
    assert sorted(r["planned"] for r in json.loads(listed.stdout)) == [2, 3]
    root = data / "pics" / "oscar-batch" / first_run
    assert (root / "outputs" / "1.jpg" / "copy").read_bytes() == b"a1"
    # the first run named explicitly over b/: refused before anything is written
    again = _cli(*local, "--set", "input.prefix=b/", "--run", first_run, "--force")
    assert again.exit_code == 1
    said = again.stderr
    assert f"run {first_run} is over s3://pics/a/, not s3://pics/b/" in said
    assert "leave out --run for this spec's own run" in said
    assert json.loads((root / "report.json").read_text())["planned"] == 3
    assert (root / "outputs" / "1.jpg" / "copy").read_bytes() == b"a1"


def test_scope_holds_bucket_prefix_and_globs(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        "name: sc\nservice: {name: c, image: a, script: script.sh}\ninput: {bucket: pics}\n",
    )
    names = {
        identity.default_run(spec.load(path, extra))
        for extra in ([], ["input.bucket=qqq"], ["input.prefix=x/"], ["input.include=[a*]"],
                      ["input.exclude=[b*]"])
    }  # fmt: skip
    assert len(names) == 5
    assert identity.scope_line(identity.scope(spec.load(path, ["input.exclude=[b*]"]))) == (
        "s3://pics/ (* !b*)"
    )
