"""Where `report`, `runs` and `compare` read a spec's runs: a local run's folder or S3.

Whatever is missing is said at once with the remedy: no endpoint (and which folders here hold
the output bucket), an endpoint this machine cannot resolve (an in-cluster name such as
`minio.minio`: port-forward it), no keys (an `mc` alias has them). The client tries a down
server twice, not for half a minute.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from minio import Minio

from generator.bucket.reader import FolderStore, S3Store, Store
from generator.clients import mc, s3
from generator.errors import StorageError
from generator.spec import model as spec_mod
from generator.spec import urls

LOCAL_DATA = Path("oscar-batch-data")  # run --local's default --data-dir

EndpointOpt = Annotated[
    str | None,
    typer.Option(help="S3 endpoint (else --alias's, OSCAR_BATCH_ENDPOINT, the spec's)"),
]
AliasOpt = Annotated[
    str | None,
    typer.Option(
        "--alias",
        help="an mc alias (mc alias set NAME URL KEY SECRET): its endpoint and keys",
        show_default=False,
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        help="read a local run's folder (run --local --data-dir) instead of S3;"
        f" the default when no endpoint is known and ./{LOCAL_DATA} exists",
        show_default=False,
    ),
]


def _folders_holding(bucket: str, prefix: str) -> list[str]:
    """Folders here (and one level down) that hold DIR/<bucket>/<prefix>: local runs' data."""
    found = []
    for top in sorted(p for p in Path().iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (top / bucket / prefix).is_dir():
            found.append(str(top))
    return found


def _in_cluster_hint(host: str, port: int | None) -> str:
    labels = host.split(".")
    if len(labels) == 2 or host.endswith((".svc", ".svc.cluster.local")):
        service, namespace = labels[0], labels[1]
        local = port or 80
        return (
            f"; an in-cluster name? kubectl port-forward -n {namespace} svc/{service} {local}"
            f" and --endpoint http://localhost:{local}"
        )
    return ""


def client(batch: spec_mod.BatchSpec, endpoint: str | None, alias: str | None) -> Minio:
    """A client for the spec's output bucket, or one line saying what is missing and how to
    give it."""
    chosen = mc.find(alias) if alias else None
    sources = [
        (endpoint, "--endpoint"),
        (chosen.url if chosen else None, f"mc alias {alias}"),
        (os.environ.get(s3.ENDPOINT_ENV), s3.ENDPOINT_ENV),
        (batch.input.endpoint, "the spec's input.endpoint"),
    ]
    url, source = next(((u, s) for u, s in sources if u), (None, ""))
    if not url:
        prefix = batch.output.prefix
        held = _folders_holding(batch.output_bucket, prefix)
        local = (
            f"--data-dir {held[0]} (it holds {held[0]}/{batch.output_bucket}/{prefix})"
            if held
            else f"--data-dir DIR, the folder run --local was given (DIR/{batch.output_bucket}/)"
        )
        raise StorageError(
            f"where are the runs? a local run: {local}; S3: --endpoint URL, --alias NAME"
            f" (mc), {s3.ENDPOINT_ENV} or the spec's input.endpoint"
        )
    urls.no_credentials(url, "S3 endpoint", f"{s3.ACCESS_ENV} and {s3.SECRET_ENV}", StorageError)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host and not s3.resolves(host):
        raise StorageError(
            f"{host}: no such host from here (the S3 endpoint {url}, from {source})"
            + _in_cluster_hint(host, parts.port)
            + "; a local run's folder: --data-dir DIR"
        )
    access, secret = os.environ.get(s3.ACCESS_ENV), os.environ.get(s3.SECRET_ENV)
    keys = chosen or (None if access and secret else mc.for_url(url))
    if keys is not None:
        access, secret = keys.access_key, keys.secret_key
    if not access or not secret:
        raise StorageError(
            f"no S3 keys for {url}: set {s3.ACCESS_ENV} and {s3.SECRET_ENV}, or --alias NAME"
            " (an mc alias with this endpoint's keys)"
        )
    return s3.make_client(url, access, secret, batch.input.region, retries=1)


def output_store(
    batch: spec_mod.BatchSpec,
    endpoint: str | None,
    data_dir: Path | None,
    alias: str | None = None,
) -> tuple[Store, str]:
    """Where a spec's runs are read from, and how to name it: a local folder or S3."""
    known = endpoint or alias or os.environ.get(s3.ENDPOINT_ENV) or batch.input.endpoint
    if data_dir is None and not known and (LOCAL_DATA / batch.output_bucket).is_dir():
        data_dir = LOCAL_DATA
    if data_dir is not None:
        folder = data_dir / batch.output_bucket
        if not folder.is_dir():
            there = (
                sorted(p.name for p in data_dir.iterdir() if p.is_dir())
                if data_dir.is_dir()
                else []
            )
            raise StorageError(
                f"{folder}/: no such folder (the output bucket {batch.output_bucket} of a run"
                f" --local --data-dir {data_dir})"
                + (f"; buckets there: {', '.join(there)}" if there else "")
            )
        return FolderStore(folder), f"{folder}/"
    return S3Store(
        client(batch, endpoint, alias), batch.output_bucket
    ), f"s3://{batch.output_bucket}/"
