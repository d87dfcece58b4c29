"""Read-only access to the output bucket for `report`, `runs` and `compare`: S3, or the folder
of a local run's embedded server (DIR/<bucket>/<key> are plain files), read directly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from minio import Minio

from generator.clients import s3

CHUNK = 1 << 20


class Store(Protocol):
    def listing(self, prefix: str) -> Iterator[tuple[str, float]]:
        """(key, last-modified epoch seconds) under the prefix, recursively, in key order."""
        ...

    def folders(self, prefix: str) -> list[str]:
        """Names of the "folders" right under the prefix (S3's common prefixes)."""
        ...

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        ...

    def chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes, streamed."""
        ...


@dataclass(frozen=True)
class S3Store:
    client: Minio
    bucket: str

    def listing(self, prefix: str) -> Iterator[tuple[str, float]]:
        return s3.list_dated(self.client, self.bucket, prefix)

    def folders(self, prefix: str) -> list[str]:
        with s3.s3_errors(self.client, self.bucket, prefix):
            return sorted(
                o.object_name[len(prefix) :].rstrip("/")
                for o in self.client.list_objects(self.bucket, prefix=prefix)
                if o.is_dir and o.object_name
            )

    def read(self, key: str) -> bytes | None:
        return s3.get_optional(self.client, self.bucket, key)

    def chunks(self, key: str) -> Iterator[bytes]:
        with s3.s3_errors(self.client, self.bucket, key):
            response = self.client.get_object(self.bucket, key)
            try:
                yield from response.stream(CHUNK)
            finally:
                response.close()
                response.release_conn()


@dataclass(frozen=True)
class FolderStore:
    root: Path  # the data folder's <bucket> sub-folder

    def listing(self, prefix: str) -> Iterator[tuple[str, float]]:
        # a local run's folder is small enough to sort in memory (S3 gives key order itself)
        base = prefix.rpartition("/")[0]
        start = self.root / base if base else self.root
        found = []
        for folder, _, files in os.walk(start):
            rel = Path(folder).relative_to(self.root).as_posix()
            for name in files:
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    found.append((key, os.stat(os.path.join(folder, name)).st_mtime))
        yield from sorted(found)

    def folders(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None  # as S3 answers: a "folder" is no object

    def chunks(self, key: str) -> Iterator[bytes]:
        with (self.root / key).open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
