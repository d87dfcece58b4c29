"""Stage a run in the real S3 server by writing its objects (plan, index, results, outputs)
directly, as the plan and the runners would, for tests that need a run but not a full one.
Results in format 2 (one object per shard and call), or format 1 (one per file) as runners
before it wrote them."""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from dataclasses import dataclass, field

from minio import Minio

from generator.bucket import identity, layout, results
from generator.bucket.reader import S3Store
from generator.spec.model import BatchSpec


@dataclass
class File:
    """One planned file: its result (None: missing) and what its outputs folder holds."""

    key: str
    status: str | None = "ok"  # ok | fail | None
    outputs: dict[str, bytes] = field(default_factory=dict)
    seconds: float = 0.5
    reason: str = "failed"
    log: str = ""
    shard: str = "0000"
    invocation: str = ""
    identity: str | None = None  # default: the spec's


def put(s3: Minio, bucket: str, key: str, data: bytes) -> None:
    s3.put_object(bucket, key, io.BytesIO(data), len(data))


def result_text(f: File, spec: BatchSpec) -> bytes:
    ok = f.status == "ok"
    lines = [
        f"exit_code {0 if ok else 3}",
        f"seconds {f.seconds}",
        f"outputs {len(f.outputs) if ok else 0}",
        f"identity {f.identity or identity.of(spec).fingerprint}",
    ]
    if f.invocation:
        lines.append(f"invocation {f.invocation}")
    if not ok:
        lines += [f"reason {f.reason}", "--", f.log]
    return ("\n".join(lines) + "\n").encode()


def record(f: File) -> results.Record:
    ok = f.status == "ok"
    hashes = tuple(sorted((n, hashlib.sha256(d).hexdigest()) for n, d in f.outputs.items()))
    return results.Record(
        layout.file_id(f.key),
        ok,
        0 if ok else 3,
        f.seconds,
        len(f.outputs) if ok else 0,
        f.invocation,
        reason="" if ok else f.reason,
        error="" if ok else f.log,
        hashes=hashes if ok else None,
    )


def put_results(s3: Minio, spec: BatchSpec, run: str, files: list[File], fmt: int = 2) -> None:
    """The files' results (one object per shard in format 2) and outputs."""
    where = layout.RunLayout.of(spec, run)
    for f in files:
        rel = f.key[len(spec.input.prefix) :]
        for name, data in f.outputs.items():
            put(s3, where.bucket, f"{where.outputs}{rel}/{name}", data)
        if fmt == 1:
            fid = layout.file_id(f.key)
            put(
                s3, where.bucket, f"{where.results}{f.shard}/{fid}.{f.status}", result_text(f, spec)
            )
    if fmt == 1:
        return
    for shard in sorted({f.shard for f in files}):
        for ident in sorted({f.identity or identity.of(spec).fingerprint for f in files}):
            group = [
                record(f)
                for f in files
                if f.shard == shard and (f.identity or identity.of(spec).fingerprint) == ident
            ]
            key = f"{where.results}{shard}/{uuid.uuid4().hex[:8]}-000001.results"
            put(s3, where.bucket, key, results.encode(shard, ident, group))


def put_result(s3: Minio, spec: BatchSpec, run: str, f: File, fmt: int = 2) -> None:
    put_results(s3, spec, run, [f], fmt)


def latest(s3: Minio, bucket: str, root: str = "oscar-batch/r/") -> dict[str, bool]:
    """Each file id's latest result in a run (True: succeeded), read as the aggregate does."""
    with results.load(S3Store(s3, bucket), layout.RunLayout(bucket, root)) as found:
        return dict(found.statuses())


def stage(
    s3: Minio,
    spec: BatchSpec,
    run: str,
    files: list[File],
    created: float | None = None,
    fmt: int = 2,
) -> None:
    """plan.json and index.tsv, then each file's result and outputs."""
    where = layout.RunLayout.of(spec, run)
    index = "".join(
        f"{layout.file_id(f.key)}\t10\t{f.key}\n" for f in sorted(files, key=lambda f: f.key)
    )
    put(s3, where.bucket, where.index, index.encode())
    plan = {
        "run": run,
        "workers": 1,
        "spec": spec.name,
        "identity": identity.of(spec).record(),
        "created": time.time() if created is None else created,
    }
    put(s3, where.bucket, where.plan, json.dumps(plan).encode())
    time.sleep(0.01)  # results after the plan, by the server's millisecond clock
    put_results(s3, spec, run, [f for f in files if f.status is not None], fmt)
