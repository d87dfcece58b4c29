"""S3 I/O with the minio client: listing, small objects, errors turned into one line.

Clients are made by the stages' `main`s, never at import. Keys are read from the standard
AWS variables; messages never include them.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error

from generator.errors import StorageError
from generator.spec import urls

ENDPOINT_ENV = "OSCAR_BATCH_ENDPOINT"  # set by the workflow for its plan and aggregate pods
ACCESS_ENV = "AWS_ACCESS_KEY_ID"
SECRET_ENV = "AWS_SECRET_ACCESS_KEY"


def resolves(host: str) -> bool:
    """Whether an endpoint's host name resolves from here (an in-cluster name does not)."""
    try:
        socket.getaddrinfo(host, None)
        return True
    except OSError:
        return False


def make_client(
    endpoint: str, access_key: str, secret_key: str, region: str | None = None, retries: int = 7
) -> Minio:
    """A minio client that retries with backoff for about half a minute when S3 is unavailable
    (a person waiting at a prompt asks for fewer `retries`)."""
    urls.no_credentials(endpoint, "S3 endpoint", f"{ACCESS_ENV} and {SECRET_ENV}", StorageError)
    url = urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise StorageError(f"endpoint {endpoint!r} is not an http(s)://host:port URL")
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=10, read=120),
        maxsize=32,
        retries=urllib3.Retry(
            total=retries,
            backoff_factor=0.5,
            status_forcelist=[500, 502, 503, 504],
            allowed_methods=None,
        ),
    )
    return Minio(
        url.netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=url.scheme == "https",
        region=region,
        http_client=http,
    )


def keys_from_env(endpoint: str) -> tuple[str, str]:
    """(access, secret) from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.

    Raises:
        StorageError: either is unset.
    """
    access, secret = os.environ.get(ACCESS_ENV), os.environ.get(SECRET_ENV)
    if not access or not secret:
        raise StorageError(f"set {ACCESS_ENV} and {SECRET_ENV} to the S3 keys of {endpoint}")
    return access, secret


def client_from_env(endpoint: str, region: str | None = None) -> Minio:
    """A client with keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."""
    return make_client(endpoint, *keys_from_env(endpoint), region)


_MESSAGES = {
    "NoSuchBucket": "bucket {bucket!r} does not exist",
    "AccessDenied": "access denied to bucket {bucket!r}",
    "InvalidAccessKeyId": "the S3 access key is not known to the server",
    "SignatureDoesNotMatch": "the S3 secret key is wrong",
    "NoSuchKey": "s3://{bucket}/{key} does not exist",
}


def _code(exc: S3Error | InvalidResponseError) -> str:
    if isinstance(exc, S3Error):
        return exc.code or ""
    # Servers that answer errors as text/xml (rclone's) reach minio-py as "non-XML".
    found = re.search(r"<Code>([^<]+)</Code>", str(exc))
    return found.group(1) if found else f"HTTP {exc._code}"


def _message(exc: S3Error | InvalidResponseError, bucket: str, key: str) -> str:
    code = _code(exc)
    template = _MESSAGES.get(code, "S3 error {code} on s3://{bucket}/{key}")
    return template.format(bucket=bucket, key=key, code=code)


@contextlib.contextmanager
def s3_errors(client: Minio, bucket: str, key: str = "") -> Iterator[None]:
    """Turn minio/urllib3 failures into a StorageError with one readable line."""
    try:
        yield
    except (S3Error, InvalidResponseError) as exc:
        raise StorageError(_message(exc, bucket, key)) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise StorageError(
            f"cannot reach S3 at {client._base_url.host}: {type(reason).__name__}"
        ) from None


def require_bucket(client: Minio, bucket: str) -> None:
    with s3_errors(client, bucket):
        exists = client.bucket_exists(bucket)
    if not exists:
        raise StorageError(f"bucket {bucket!r} does not exist")


def list_objects(client: Minio, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
    """(key, size) of every object under the prefix, streamed page by page."""
    with s3_errors(client, bucket, prefix):
        for obj in client.list_objects(bucket, prefix=prefix, recursive=True):
            if not obj.is_dir and obj.object_name is not None:
                yield obj.object_name, obj.size or 0


def list_dated(client: Minio, bucket: str, prefix: str) -> Iterator[tuple[str, float]]:
    """(key, last-modified in epoch seconds by the server's clock) of every object under prefix."""
    with s3_errors(client, bucket, prefix):
        for obj in client.list_objects(bucket, prefix=prefix, recursive=True):
            if not obj.is_dir and obj.object_name is not None:
                stamp = obj.last_modified.timestamp() if obj.last_modified else 0.0
                yield obj.object_name, stamp


def put_bytes(
    client: Minio, bucket: str, key: str, data: bytes, content_type: str = "text/plain"
) -> None:
    with s3_errors(client, bucket, key):
        client.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type)


def put_file(
    client: Minio, bucket: str, key: str, path: Path, content_type: str = "text/plain"
) -> None:
    with s3_errors(client, bucket, key):
        client.fput_object(bucket, key, str(path), content_type=content_type)


def get_optional(client: Minio, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when it does not exist."""
    with s3_errors(client, bucket, key):
        try:
            response = client.get_object(bucket, key)
        except (S3Error, InvalidResponseError) as exc:
            if _code(exc) == "NoSuchKey":
                return None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()


def get_bytes(client: Minio, bucket: str, key: str) -> bytes:
    data = get_optional(client, bucket, key)
    if data is None:
        raise StorageError(_MESSAGES["NoSuchKey"].format(bucket=bucket, key=key))
    return data


def put_if_absent(client: Minio, bucket: str, key: str, data: bytes) -> bool:
    """Create an object unless it exists; False when the server says it does.

    `If-None-Match: *` is honoured by AWS S3 (since 2024-08) and MinIO (since 2024-11);
    servers that ignore it (rclone serve s3) simply overwrite, so callers read back.
    minio-py's public put_object would turn the header into user metadata, hence _put_object.
    """
    with s3_errors(client, bucket, key):
        try:
            headers: dict[str, str | list[str] | tuple[str]] = {
                "If-None-Match": "*",
                "Content-Type": "application/json",
            }
            client._put_object(bucket, key, data, headers=headers)
        except (S3Error, InvalidResponseError) as exc:
            if _code(exc) in ("PreconditionFailed", "HTTP 412"):
                return False
            raise
    return True


def remove(client: Minio, bucket: str, key: str) -> None:
    with s3_errors(client, bucket, key):
        client.remove_object(bucket, key)


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The UTF-8 lines of a stream of chunks (without their line breaks)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8")
    if pending:
        yield pending.decode("utf-8")


def iter_lines(client: Minio, bucket: str, key: str) -> Iterator[str]:
    """The lines of a text object, streamed (an index of a million keys is ~100 MB)."""
    with s3_errors(client, bucket, key):
        response = client.get_object(bucket, key)
        try:
            yield from split_lines(response.stream(1 << 20))
        finally:
            response.close()
            response.release_conn()


T = TypeVar("T")
U = TypeVar("U")


def ordered_map(fn: Callable[[T], U], items: Iterable[T], threads: int = 16) -> Iterator[U]:
    """fn over items on `threads` threads, results in input order, at most 4 x threads in
    flight: unlike Executor.map, a million items are never submitted (and held) at once."""
    window: deque[Future[U]] = deque()
    with ThreadPoolExecutor(threads) as pool:
        for item in items:
            window.append(pool.submit(fn, item))
            if len(window) >= 4 * threads:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
