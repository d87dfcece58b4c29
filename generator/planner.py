"""The plan stage: list the input, size the fan-out from cluster capacity, write shard manifests.

`collect`, `decide_width` and `make_plan` are pure; `write_plan` and `run_plan` do the I/O.
The same code runs in the workflow's plan pod and in `run --local`.
"""

from __future__ import annotations

import contextlib
import json
import math
import posixpath
import tempfile
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minio import Minio

from generator import capacity, identity, layout, runlock, shards, storage, workerpod
from generator.cluster import ClusterState
from generator.errors import ClusterError, RunError, SpecError, StorageError
from generator.spec import BatchSpec


def unsupported(key: str) -> str | None:
    """Why a key cannot be processed through a mount, or None.

    A mount shows keys as paths: "a//b", "./x" or "../x" would name another file, and a line
    break cannot be written to a line-based manifest.
    """
    if not layout.manifest_safe(key):
        return "key contains a line break"
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "key has an empty, '.' or '..' path segment"
    if any(len(p.encode()) > 255 for p in parts):
        return "a path segment is longer than 255 bytes"
    return None


@dataclass
class Listing:
    """The wanted files, sorted by key, and which of them still need processing."""

    keys: list[str] = field(default_factory=list)
    sizes: array[int] = field(default_factory=lambda: array("q"))
    pending: bytearray = field(default_factory=bytearray)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def collect(objects: Iterable[tuple[str, int]], spec: BatchSpec, done_ids: set[str]) -> Listing:
    """Keep the wanted keys of a listing; memory grows only with the kept keys.

    Args:
        objects: (key, size) pairs, in any order.
        spec: include/exclude globs and the input prefix.
        done_ids: ids of files whose result already says succeeded.
    """
    out = Listing()
    ordered = True
    # With input and output in one bucket, never take the runs' own files (manifests, outputs,
    # reports) as input: a second run would process the first one's outputs.
    own = spec.output.prefix if spec.output_bucket == spec.input.bucket else None
    for key, size in objects:
        if key.endswith("/") or not key.startswith(spec.input.prefix) or not spec.input.wanted(key):
            continue
        if own is not None and key.startswith(own):
            continue
        reason = unsupported(key)
        if reason:
            out.rejected.append((key, reason))
            continue
        if out.keys and key <= out.keys[-1]:
            ordered = False
        out.keys.append(key)
        out.sizes.append(size)
    if not ordered:
        order = sorted(range(len(out.keys)), key=out.keys.__getitem__)
        out.keys = [out.keys[i] for i in order]
        out.sizes = array("q", (out.sizes[i] for i in order))
        dedup = [i for i in range(len(out.keys)) if i == 0 or out.keys[i] != out.keys[i - 1]]
        if len(dedup) != len(out.keys):
            out.keys = [out.keys[i] for i in dedup]
            out.sizes = array("q", (out.sizes[i] for i in dedup))
    if done_ids:
        out.pending = bytearray(0 if layout.file_id(k) in done_ids else 1 for k in out.keys)
    else:
        out.pending = bytearray(b"\x01") * len(out.keys)
    return out


def decide_width(fits: list[capacity.NodeFit], files: int, spec: BatchSpec) -> tuple[int, str]:
    """workers = min(copies that fit, max_workers, ceil(files / min_files_per_worker)).

    Raises:
        ClusterError: no copy fits anywhere (saying which resource on which nodes).
    """
    if files == 0:
        return 1, "nothing left to process"
    room = sum(f.fits for f in fits)
    if room == 0:
        request = capacity.pod_requests(workerpod.pod_spec(spec))
        raise ClusterError(capacity.why_nothing_fits(fits, request))
    by_files = math.ceil(files / spec.planning.min_files_per_worker)
    limits = {
        "cluster capacity": room,
        "planning.max_workers": spec.planning.max_workers,
        f"{files} files / min_files_per_worker {spec.planning.min_files_per_worker}": by_files,
    }
    reason, width = min(limits.items(), key=lambda kv: kv[1])
    return width, f"{width} worker(s), limited by {reason}"


@dataclass(frozen=True)
class Shard:
    id: str
    members: Sequence[int]  # indexes into the listing, ascending
    bytes: int


@dataclass(frozen=True)
class Plan:
    """What the plan stage decided: width, why, and which files each shard holds."""

    run: str
    workers: int
    reason: str
    nodes: list[capacity.NodeFit]
    shards: list[Shard]
    files: int
    pending: int
    bytes: int
    rejected: list[tuple[str, str]]
    cluster_source: str

    def summary(self) -> dict[str, Any]:
        """The JSON people and scripts read (`plan -o json`, plan.json)."""
        return {
            "run": self.run,
            "workers": self.workers,
            "reason": self.reason,
            "files": self.files,
            "pending": self.pending,
            "already_done": self.files - self.pending,
            "bytes": self.bytes,
            "cluster": self.cluster_source,
            "nodes": {n.name: n.fits for n in self.nodes},
            "excluded_nodes": {n.name: n.excluded for n in self.nodes if n.excluded},
            "shards": [
                {"id": s.id, "files": len(s.members), "bytes": s.bytes} for s in self.shards
            ],
            "unsupported": [{"key": k, "reason": r} for k, r in self.rejected],
        }


def make_plan(spec: BatchSpec, run: str, listing: Listing, cluster: ClusterState) -> Plan:
    """Fit the worker pod on the cluster and shard the pending files (pure)."""
    request = capacity.pod_requests(workerpod.pod_spec(spec))
    fits = capacity.fit_cluster(
        cluster.nodes,
        cluster.pods,
        request,
        selector=spec.planning.node_selector,
        tolerations=spec.planning.tolerations,
        headroom=spec.planning.headroom,
    )
    # Compact index sequences: a million keys must not cost a million Python ints here.
    todo: Sequence[int]
    if listing.pending.count(0) == 0:
        todo = range(len(listing.keys))
    else:
        todo = array("I", (i for i, p in enumerate(listing.pending) if p))
    width, reason = decide_width(fits, len(todo), spec)
    if spec.planning.balance == "count":
        groups: list[Sequence[int]] = [
            todo[r.start : r.stop] for r in shards.by_count(len(todo), width)
        ]
    else:
        sizes = array("q", (listing.sizes[i] for i in todo))
        groups = [array("I", (todo[j] for j in g)) for g in shards.assign(sizes, width, "bytes")]
    made = [
        Shard(layout.shard_id(n, width), group, sum(listing.sizes[i] for i in group))
        for n, group in enumerate(groups)
    ]
    return Plan(
        run=layout.check_run(run),
        workers=width,
        reason=reason,
        nodes=fits,
        shards=made,
        files=len(listing.keys),
        pending=len(todo),
        bytes=sum(listing.sizes),
        rejected=listing.rejected,
        cluster_source=cluster.source,
    )


def done_ids(client: Minio, where: layout.RunLayout) -> set[str]:
    """Ids of files a previous attempt of this run already processed successfully."""
    done = set()
    for key, _ in storage.list_objects(client, where.bucket, where.results):
        parsed = layout.parse_result_key(key)
        if parsed and parsed[2] == "ok":
            done.add(parsed[1])
    return done


def read_objects_file(path: Path) -> Iterable[tuple[str, int]]:
    """(key, size) from JSON lines such as `mc ls --recursive --json` prints."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if row.get("type") == "folder":
                    continue
                yield str(row["key"]), int(row.get("size", 0))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise SpecError(f"{path}:{n}: expected a JSON object with key and size") from None


def listing_keys(spec: BatchSpec, keys: Iterable[tuple[str, int]]) -> Iterable[tuple[str, int]]:
    """`mc ls` prints keys relative to the listed prefix; make them full keys again."""
    for key, size in keys:
        yield (
            (key if key.startswith(spec.input.prefix) else posixpath.join(spec.input.prefix, key)),
            size,
        )


def write_plan(client: Minio, spec: BatchSpec, plan: Plan, listing: Listing) -> None:
    """Manifests first, then the index, then plan.json: a plan.json means a complete plan."""
    where = layout.RunLayout.of(spec, plan.run)
    prefix_len = len(spec.input.prefix)
    for shard in plan.shards:
        text = "".join(
            layout.manifest_line(listing.keys[i], listing.keys[i][prefix_len:])
            for i in shard.members
        )
        storage.put_bytes(client, where.bucket, where.shard(shard.id), text.encode("utf-8"))
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".tsv") as index:
        for key, size in zip(listing.keys, listing.sizes, strict=True):
            index.write(f"{layout.file_id(key)}\t{size}\t{key}\n")
        for key, reason in listing.rejected:
            index.write(f"-\t0\t{json.dumps(key)}\t{reason}\n")
        index.flush()
        storage.put_file(client, where.bucket, where.index, Path(index.name))
    body = {
        **plan.summary(),
        "spec": spec.name,
        "identity": identity.of(spec).record(),
        "created": time.time(),
    }
    storage.put_bytes(
        client, where.bucket, where.plan, json.dumps(body, indent=1).encode(), "application/json"
    )


def check_identity(client: Minio, spec: BatchSpec, run: str) -> None:
    """Refuse to resume a run that another service version (image, script, env) began.

    Raises:
        RunError: one line naming what changed and how to go on.
    """
    where = layout.RunLayout.of(spec, run)
    data = storage.get_optional(client, where.bucket, where.plan)
    recorded = json.loads(data).get("identity") if data else None
    now = identity.of(spec)
    if not isinstance(recorded, dict) or recorded.get("id") == now.fingerprint:
        return  # a new run, the same service, or a run from before identities were recorded
    changed = "; ".join(identity.changes(recorded, now))
    raise RunError(
        f"run {run} was made by another service version ({changed}): leave out --run for a"
        f" new run of this version ({identity.default_run(spec)}), or pass --force to resume"
        f" {run} with it"
    )


def run_plan(
    client: Minio | None,
    spec: BatchSpec,
    run: str,
    cluster: ClusterState,
    objects: Iterable[tuple[str, int]] | None = None,
    write: bool = True,
    force: bool = False,
) -> Plan:
    """List (or take `objects`), plan, and write the plan to the bucket.

    Writing takes the run's lock (the aggregate removes it) after checking that the run, if
    it exists, was made by the same service version; `force` skips both refusals.

    Raises:
        StorageError: a bucket is missing, or no file matches.
        ClusterError: no worker fits on the cluster.
        RunError: the run belongs to another service version, or another run holds it.
    """
    if client is not None and write:
        if not force:
            check_identity(client, spec, run)
        runlock.acquire(client, spec, run, force=force)
        try:
            return _plan(client, spec, run, cluster, objects, write)
        except BaseException:
            with contextlib.suppress(StorageError):  # S3 gone: the original error says so
                runlock.release(client, spec, run)
            raise
    return _plan(client, spec, run, cluster, objects, write)


def _plan(
    client: Minio | None,
    spec: BatchSpec,
    run: str,
    cluster: ClusterState,
    objects: Iterable[tuple[str, int]] | None,
    write: bool,
) -> Plan:
    where = layout.RunLayout.of(spec, run)
    if client is None:
        if objects is None or write:
            raise StorageError("an S3 client is needed to list or write")
        done: set[str] = set()
    else:
        if objects is None:
            storage.require_bucket(client, spec.input.bucket)
            objects = storage.list_objects(client, spec.input.bucket, spec.input.prefix)
        if write and spec.output_bucket != spec.input.bucket:
            storage.require_bucket(client, spec.output_bucket)
        done = done_ids(client, where) if spec.worker.skip_existing and write else set()
    listing = collect(objects, spec, done)
    if not listing.keys:
        globs = ", ".join(spec.input.include)
        raise StorageError(
            f"no file under s3://{spec.input.bucket}/{spec.input.prefix} matches {globs}"
        )
    plan = make_plan(spec, run, listing, cluster)
    if client is not None and write:
        write_plan(client, spec, plan, listing)
    return plan
