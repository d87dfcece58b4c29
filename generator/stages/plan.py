"""The plan stage: list the input, size the fan-out from cluster capacity, write shard manifests.

`collect`, `decide_width` and `make_plan` are pure; `write_plan` and `run_plan` do the I/O.
The same code runs in the workflow's plan pod and in `run --local`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import posixpath
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minio import Minio

from generator.bucket import claims, identity, layout, results, rundocs
from generator.bucket import lock as runlock
from generator.bucket.reader import S3Store
from generator.build import workerpod
from generator.clients import s3
from generator.clients.kube import ClusterState
from generator.errors import ClusterError, RunError, SpecError, StorageError
from generator.spec.model import BatchSpec
from generator.stages import capacity, quota, scale, shards

# S3 (and MinIO) refuse object keys over 1,024 bytes; an output's key is the run's outputs/
# prefix + the input's relative key + "/" + a file name the script chooses, so keep room for one.
S3_KEY_LIMIT = 1024
OUTPUT_NAME_ROOM = 64


def unsupported(key: str, outputs_folder: str = "") -> str | None:
    """Why a key cannot be processed through a mount, or None.

    A mount shows keys as paths: "a//b", "./x" or "../x" would name another file, and a line
    break cannot be written to a line-based manifest. `outputs_folder` is the key prefix of
    its outputs (<output.prefix><run>/outputs/<relative key>/).
    """
    if not layout.manifest_safe(key):
        return "key contains a line break"
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "key has an empty, '.' or '..' path segment"
    if any(len(p.encode()) > 255 for p in parts):
        return "a path segment is longer than 255 bytes"
    if outputs_folder:
        folder = len(outputs_folder.encode())
        if folder + OUTPUT_NAME_ROOM > S3_KEY_LIMIT:
            return (
                f"its outputs' keys would exceed S3's {S3_KEY_LIMIT} bytes"
                f" ({folder} before a file name; {OUTPUT_NAME_ROOM} kept for one)"
            )
    return None


@dataclass
class Listing:
    """The wanted files, sorted by key, and which of them still need processing."""

    keys: list[str] = field(default_factory=list)
    sizes: array[int] = field(default_factory=lambda: array("q"))
    pending: bytearray = field(default_factory=bytearray)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def collect(
    objects: Iterable[tuple[str, int]], spec: BatchSpec, done_ids: set[str], run: str
) -> Listing:
    """Keep the wanted keys of a listing; memory grows only with the kept keys.

    Args:
        objects: (key, size) pairs, in any order.
        spec: include/exclude globs and the input prefix.
        done_ids: ids of files whose result already says succeeded.
        run: the run name (its outputs' keys must fit S3's limit).
    """
    out = Listing()
    # layout run stores a file's outputs under outputs/<key>/; layout oscar under each
    # target's folder by the names the script chose (the runner checks those)
    outputs = layout.RunLayout.of(spec, run).outputs if spec.output.layout == "run" else None
    prefix_len = len(spec.input.prefix)
    ordered = True
    # With input and output in one bucket, never take the runs' own files (manifests, outputs,
    # reports) nor this service's outputs as input: a second run would process the first one's.
    own = tuple([spec.output.prefix] if spec.output_bucket == spec.input.bucket else []) + tuple(
        t.prefix for t in spec.output.targets if t.bucket == spec.input.bucket
    )
    runs = layout.RunFolders()
    for key, size in objects:
        if key.endswith("/") or not key.startswith(spec.input.prefix):
            continue
        runs.see(key)
        if not spec.input.wanted(key) or (own and key.startswith(own)):
            continue
        reason = unsupported(key, f"{outputs}{key[prefix_len:]}/" if outputs else "")
        if reason:
            out.rejected.append((key, reason))
            continue
        if out.keys and key <= out.keys[-1]:
            ordered = False
        out.keys.append(key)
        out.sizes.append(size)
    roots = runs.roots()
    if roots:  # another run's folder inside the input folder: its bookkeeping is no input
        kept = [i for i, k in enumerate(out.keys) if not runs.bookkeeping(k, roots)]
        out.keys = [out.keys[i] for i in kept]
        out.sizes = array("q", (out.sizes[i] for i in kept))
        out.rejected = [r for r in out.rejected if not runs.bookkeeping(r[0], roots)]
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


def decide_width(
    fits: list[capacity.NodeFit],
    files: int,
    spec: BatchSpec,
    quotas: Sequence[quota.Limit] = (),
) -> tuple[int, str]:
    """workers = min(copies that fit, max_workers, ceil(files / min_files_per_worker), quotas).

    Raises:
        ClusterError: no copy fits anywhere (saying which resource on which nodes), or a
            quota has no room for one more pod.
    """
    if files == 0:
        return 1, "nothing left to process"
    room = sum(f.fits for f in fits)
    if room == 0:
        request = capacity.pod_requests(workerpod.pod_spec(spec))
        raise ClusterError(capacity.why_nothing_fits(fits, request))
    full = next((q for q in quotas if q.fits == 0), None)
    if full:
        left, need = full.shown(full.remaining), full.shown(full.per_pod)
        raise ClusterError(
            f"{full.source}: {full.resource} has {left} left, a worker pod needs {need}"
        )
    by_files = math.ceil(files / spec.planning.min_files_per_worker)
    _, per_item = scale.bytes_per_item(spec)
    limits = {
        "cluster capacity": room,
        "planning.max_workers": spec.planning.max_workers,
        f"{files} files / min_files_per_worker {spec.planning.min_files_per_worker}": by_files,
        f"the workflow object's size (~{per_item:.0f} B per worker in half of Argo's 1 MiB;"
        " see README, offloading)": scale.max_width(spec),
        **{f"{q.source} {q.resource}": q.fits for q in quotas},
    }
    reason, width = min(limits.items(), key=lambda kv: kv[1])
    return width, f"{width} worker(s), limited by {reason}"


@dataclass(frozen=True)
class Shard:
    id: str
    members: Sequence[int]  # indexes into the listing, ascending
    bytes: int
    units: int  # claimable units of worker.batch_size members (bucket/claims.py)


@dataclass(frozen=True)
class Plan:
    """What the plan stage decided: width, why, and which files each shard holds."""

    run: str
    workers: int
    reason: str
    nodes: list[capacity.NodeFit]
    shards: list[Shard]
    unit_files: int
    files: int
    pending: int
    bytes: int
    rejected: list[tuple[str, str]]
    cluster_source: str
    quotas: list[quota.Limit] = field(default_factory=list)

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
            "unit_files": self.unit_files,
            "shards": [
                {"id": s.id, "files": len(s.members), "bytes": s.bytes, "units": s.units}
                for s in self.shards
            ],
            "unsupported": [{"key": k, "reason": r} for k, r in self.rejected],
            "quotas": [
                {"source": q.source, "resource": q.resource, "fits": q.fits} for q in self.quotas
            ],
        }


def make_plan(spec: BatchSpec, run: str, listing: Listing, cluster: ClusterState) -> Plan:
    """Fit the worker pod on the cluster and shard the pending files (pure)."""
    request = capacity.pod_requests(quota.worker_pod(spec, cluster))
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
    quotas = quota.limits(spec, cluster)
    width, reason = decide_width(fits, len(todo), spec, quotas)
    if spec.planning.balance == "count":
        groups: list[Sequence[int]] = [
            todo[r.start : r.stop] for r in shards.by_count(len(todo), width)
        ]
    else:
        sizes = array("q", (listing.sizes[i] for i in todo))
        groups = [array("I", (todo[j] for j in g)) for g in shards.assign(sizes, width, "bytes")]
    unit = claims.unit_size(spec.worker.invoke, spec.worker.batch_size, len(todo), width)
    made = [
        Shard(
            layout.shard_id(n, width),
            group,
            sum(listing.sizes[i] for i in group),
            claims.count(len(group), unit),
        )
        for n, group in enumerate(groups)
    ]
    return Plan(
        run=layout.check_run(run),
        workers=width,
        reason=reason,
        nodes=fits,
        shards=made,
        unit_files=unit,
        files=len(listing.keys),
        pending=len(todo),
        bytes=sum(listing.sizes),
        rejected=listing.rejected,
        cluster_source=cluster.source,
        quotas=quotas,
    )


def done_ids(client: Minio, where: layout.RunLayout) -> set[str]:
    """Ids of files whose latest result in this run is a success (results of either format)."""
    with results.load(S3Store(client, where.bucket), where, details=False) as found:
        return set(found.succeeded())


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
                key, size = str(row["key"]), int(row.get("size", 0))
            except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
                raise SpecError(f"{path}:{n}: expected a JSON object with key and size") from None
            if not 0 <= size < 2**63:
                raise SpecError(f"{path}:{n}: size {size} is out of range")
            yield key, size


def listing_keys(spec: BatchSpec, keys: Iterable[tuple[str, int]]) -> Iterable[tuple[str, int]]:
    """`mc ls` prints keys relative to the listed prefix; make them full keys again."""
    for key, size in keys:
        yield (
            (key if key.startswith(spec.input.prefix) else posixpath.join(spec.input.prefix, key)),
            size,
        )


def write_plan(client: Minio, spec: BatchSpec, plan: Plan, listing: Listing) -> None:
    """Manifests and claims first, then the index, then plan.json: a plan.json means a
    complete plan."""
    where = layout.RunLayout.of(spec, plan.run)
    prefix_len = len(spec.input.prefix)
    for shard in plan.shards:
        text = "".join(
            layout.manifest_line(listing.keys[i], listing.keys[i][prefix_len:])
            for i in shard.members
        )
        s3.put_bytes(client, where.bucket, where.shard(shard.id), text.encode("utf-8"))
    # a previous plan's markers would send workers after shards it had finished
    stale = (
        key for prefix in (where.finished, where.stolen)
        for key, _ in s3.list_objects(client, where.bucket, prefix)
    )  # fmt: skip
    for _ in s3.ordered_map(lambda key: s3.remove(client, where.bucket, key), stale):
        pass
    for _ in s3.ordered_map(
        lambda item: s3.put_bytes(client, where.bucket, *item),
        claims.objects(where, ((s.id, s.units) for s in plan.shards), plan.unit_files),
    ):
        pass
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".tsv") as index:
        for key, size in zip(listing.keys, listing.sizes, strict=True):
            index.write(layout.index_line(key, size))
        for key, reason in listing.rejected:
            index.write(layout.rejected_index_line(key, reason))
        index.flush()
        s3.put_file(client, where.bucket, where.index, Path(index.name))
    body = {
        **plan.summary(),
        "spec": spec.name,
        "identity": identity.of(spec).record(),
        "scope": identity.scope(spec),
        "created": time.time(),
    }
    s3.put_bytes(
        client, where.bucket, where.plan, json.dumps(body, indent=1).encode(), "application/json"
    )


@dataclass(frozen=True)
class Waiting:
    """How the plan waits for room on a busy cluster: re-read it until `seconds` have passed.

    The reason goes to `say` (the plan pod's log, which Argo's UI shows while it runs).
    """

    reread: Callable[[], ClusterState]
    say: Callable[[str], None]
    seconds: float
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    @property
    def poll(self) -> float:
        """About ten looks over the wait, at most one every 30 s."""
        return min(30.0, max(0.1, self.seconds / 10))


def plan_when_room(
    spec: BatchSpec, run: str, listing: Listing, cluster: ClusterState, waiting: Waiting | None
) -> Plan:
    """`make_plan`, re-reading the cluster while nothing fits, up to `waiting.seconds`.

    Raises:
        ClusterError: still nothing fits when the wait is over (the last reason, and how long).
    """
    start = waiting.clock() if waiting else 0.0
    while True:
        try:
            return make_plan(spec, run, listing, cluster)
        except ClusterError as exc:
            if waiting is None or waiting.seconds <= 0:
                raise
            waited = waiting.clock() - start
            if waited >= waiting.seconds:
                raise ClusterError(f"{exc} (waited {waited:.0f} s for room)") from None
            waiting.say(f"waiting for room ({waited:.0f}/{waiting.seconds:.0f} s): {exc}")
            waiting.sleep(min(waiting.poll, waiting.seconds - waited))
            cluster = waiting.reread()


def recorded_plan(client: Minio, spec: BatchSpec, run: str) -> rundocs.Plan | None:
    """The run's plan.json, if it has one.

    Raises:
        Unreadable: plan.json is there but is not a plan (one line saying why).
    """
    where = layout.RunLayout.of(spec, run)
    data = s3.get_optional(client, where.bucket, where.plan)
    return rundocs.parse(rundocs.Plan, data, f"s3://{where.bucket}/{where.plan}") if data else None


def check_scope(client: Minio, spec: BatchSpec, run: str) -> None:
    """Refuse to plan a run over other files than it began with, even with --force: outputs are
    stored by the key relative to the prefix, so another prefix's files would overwrite this
    run's outputs, and the new index and report would replace its own.

    Raises:
        RunError: one line naming both scopes and how to go on.
    """
    recorded = recorded_plan(client, spec, run)
    now = identity.scope(spec)
    if recorded is None or recorded.scope is None or recorded.scope == now:
        return  # a new run, the same files, or a run from before scopes were recorded
    raise RunError(
        f"run {run} is over {identity.scope_line(recorded.scope)}, not"
        f" {identity.scope_line(now)}: planning it would overwrite its outputs and report;"
        f" leave out --run for this spec's own run ({identity.default_run(spec)}), or pass"
        " another --run"
    )


def start_line(plan: Plan, resumed: bool) -> str:
    """What this run is doing, said first: "new run X: ..." or "resuming X: 36 done, 1 to
    retry" (and why it is this wide)."""
    if not resumed:
        return f"new run {plan.run}: {plan.pending} file(s) to process ({plan.reason})"
    done = plan.files - plan.pending
    if plan.pending == 0:
        return f"resuming {plan.run}: all {done} file(s) done, nothing to do"
    if done == 0:  # nothing succeeded yet, or worker.skip_existing is off
        return f"resuming {plan.run}: {plan.pending} file(s) to process ({plan.reason})"
    return f"resuming {plan.run}: {done} done, {plan.pending} to retry ({plan.reason})"


def check_identity(client: Minio, spec: BatchSpec, run: str) -> None:
    """Refuse to resume a run that another service version (image, script, env) began.

    Raises:
        RunError: one line naming what changed and how to go on.
    """
    plan = recorded_plan(client, spec, run)
    recorded = plan.identity.model_dump() if plan and plan.identity else None
    now = identity.of(spec)
    if recorded is None or recorded.get("id") == now.fingerprint:
        return  # a new run, the same service, or a run from before identities were recorded
    changed = "; ".join(identity.changes(recorded, now))
    raise RunError(
        f"run {run} was made by another service version ({changed}): leave out --run for a"
        f" new run of this version ({identity.default_run(spec)}), or pass"
        f" --resume-other-version to resume {run} with it"
    )


def run_plan(
    client: Minio | None,
    spec: BatchSpec,
    run: str,
    cluster: ClusterState | Callable[[], ClusterState],
    objects: Iterable[tuple[str, int]] | None = None,
    write: bool = True,
    waiting: Waiting | None = None,
    force: bool = False,
    resume_other_version: bool = False,
    workflow: str = "",
) -> Plan:
    """List (or take `objects`), plan, and write the plan to the bucket.

    Writing takes the run's lock (the aggregate removes it) after checking that the run, if
    it exists, is over the same files (always) and was made by the same service version.
    Two separate decisions skip the last two refusals: `force` takes over a lock held by a
    run that is not stale, and `resume_other_version` resumes a run another service version
    began.

    Args:
        cluster: the cluster, or how to read it (then read while the run's lock settles).
        waiting: when nothing fits, re-read the cluster for a while instead of failing.
        workflow: the uid of the Argo workflow running the plan: the lock's holder.

    Raises:
        StorageError: a bucket is missing, or no file matches.
        ClusterError: no worker fits on the cluster (after the wait, if any).
        RunError: the run belongs to another service version, or another run holds it.
    """
    if client is not None and write:
        check_scope(client, spec, run)
        if not resume_other_version:
            check_identity(client, spec, run)
        # the lock settles while the bucket and the cluster are read; it is confirmed before
        # anything is written and before a wait for room renews it
        taken = runlock.take(client, spec, run, force=force, workflow=workflow)
        confirm = functools.cache(lambda: runlock.confirm(client, spec, run, taken))

        if waiting is not None:
            # the lock is taken before the wait: each look at the cluster keeps it fresh
            reread = waiting.reread

            def renewing() -> ClusterState:
                runlock.renew(client, spec, run, confirm())
                return reread()

            waiting = dataclasses.replace(waiting, reread=renewing)
        try:
            return _plan(client, spec, run, cluster, objects, write, waiting, confirm)
        except BaseException:
            # S3 gone: the original error says so; another run's lock (it won): not ours
            with contextlib.suppress(StorageError, RunError):
                confirm()
                runlock.release(client, spec, run)
            raise
    return _plan(client, spec, run, cluster, objects, write, waiting)


def _plan(
    client: Minio | None,
    spec: BatchSpec,
    run: str,
    cluster: ClusterState | Callable[[], ClusterState],
    objects: Iterable[tuple[str, int]] | None,
    write: bool,
    waiting: Waiting | None,
    locked: Callable[[], object] = lambda: None,
) -> Plan:
    where = layout.RunLayout.of(spec, run)
    if client is None:
        if objects is None or write:
            raise StorageError("an S3 client is needed to list or write")
        done: set[str] = set()
    else:
        if objects is None:
            s3.require_bucket(client, spec.input.bucket)
            objects = s3.list_objects(client, spec.input.bucket, spec.input.prefix)
        if write and spec.output_bucket != spec.input.bucket:
            s3.require_bucket(client, spec.output_bucket)
        done = done_ids(client, where) if spec.worker.skip_existing and write else set()
    listing = collect(objects, spec, done, run)
    if callable(cluster):
        cluster = cluster()
    if not listing.keys:
        globs = ", ".join(spec.input.include)
        raise StorageError(
            f"no file under s3://{spec.input.bucket}/{spec.input.prefix} matches {globs}"
        )
    refused = quota.unspecified(spec, cluster)
    if refused:  # no wait for room: no room frees a pod the apiserver refuses
        raise ClusterError(refused)
    plan = plan_when_room(spec, run, listing, cluster, waiting)
    if client is not None and write:
        locked()
        write_plan(client, spec, plan, listing)
    return plan
