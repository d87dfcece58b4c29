"""`run --local` with its data folder's disk full says so at once (issue 20, item 13): before,
every write was retried by rclone and the S3 client for minutes, then files failed with
"output" and no reason (4 min 14 s for two files here)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import requires_fuse, write_spec

BIG = '#!/bin/sh\nhead -c 8388608 /dev/zero > "$TMP_OUTPUT_DIR/big.bin"\n'


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs (run --local runs as root, which may mount one)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(disk)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@requires_fuse
def test_a_full_data_folder_stops_the_run_saying_so(tmp_path: Path, small_disk: Path) -> None:
    (small_disk / "pics" / "in").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        (small_disk / "pics" / "in" / name).write_bytes(b"x")
    path = write_spec(
        tmp_path / "spec",
        "name: full\nservice: {name: c, image: alpine, script: script.sh, cpu: 100m,"
        " memory: 64Mi}\ninput: {bucket: pics, prefix: in/}\nplanning: {max_workers: 1}\n",
        BIG,
    )
    out = CliRunner().invoke(app, ["run", str(path), "--local", "--data-dir", str(small_disk)])
    assert out.exit_code == 1
    assert f"no space left on {small_disk} (the embedded S3 server's folder" in out.stderr
