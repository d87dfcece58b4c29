"""Stage a run in the real S3 server by writing its objects (plan, index, results, outputs)
directly, as the plan and the runners would, for tests that need a run but not a full one."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field

from minio import Minio

from generator.bucket import identity, layout
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


def put_result(s3: Minio, spec: BatchSpec, run: str, f: File) -> None:
    where = layout.RunLayout.of(spec, run)
    fid = layout.file_id(f.key)
    put(s3, where.bucket, f"{where.results}{f.shard}/{fid}.{f.status}", result_text(f, spec))
    rel = f.key[len(spec.input.prefix) :]
    for name, data in f.outputs.items():
        put(s3, where.bucket, f"{where.outputs}{rel}/{name}", data)


def stage(
    s3: Minio, spec: BatchSpec, run: str, files: list[File], created: float | None = None
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
    for f in files:
        if f.status is not None:
            put_result(s3, spec, run, f)
