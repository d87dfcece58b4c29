"""One run at a time per run folder: a lock object taken by the plan and removed by the aggregate.

Two runs of one name at once process the same files twice (and overwrite each other's
results). The lock is `<run>/lock.json`: owner, host, pid, start time and a random token.

Taking it: read it; if held and not stale, refuse, naming the holder. Else create it with
`If-None-Match: *` (exclusive on AWS S3 and MinIO); servers that ignore the header (rclone
serve s3) overwrite instead, so the taker waits `SETTLE` seconds and reads the lock back: of
two overlapping writers the later one wins and the earlier one sees the other's token and
gives up. What that guarantees without If-None-Match: both runs go on only if one run's
read-then-write took longer than the other's whole write-and-settle (more than SETTLE).

In a workflow the holder is the workflow (its uid): Argo retries a plan pod as a new pod,
with a new name, hostname and PID, and that retry must find the lock its own workflow took;
the aggregate removes the lock only when its workflow holds it (a run taken over with
--force is not released by the old workflow).

Stale rule: a lock is stale when its holder is this very workflow or process (a retry),
when it was taken on this host by a process that no longer exists (Ctrl-C, kill), or when
nothing in the run folder (the lock, any result) was written for `quiet_seconds` (twice the
per-file timeout plus 10 minutes: a live worker writes a result at least that often; a plan
waiting for room rewrites the lock meanwhile, `renew`). `--force` takes over a lock that is
not stale.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass

from minio import Minio

from generator.bucket import layout
from generator.clients import s3
from generator.errors import RunError
from generator.spec.model import BatchSpec

SETTLE = 0.3


@dataclass(frozen=True)
class Holder:
    owner: str
    host: str
    pid: int
    started: float
    token: str
    workflow: str = ""  # the uid of the Argo workflow holding it ("" outside a workflow)

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        if self.workflow:
            return f"workflow {self.workflow} (pod {self.host}) since {when}"
        return f"{self.owner} on {self.host} (pid {self.pid}) since {when}"


def quiet_seconds(spec: BatchSpec) -> float:
    return 2.0 * spec.worker.file_timeout + 600.0


def me(now: float, workflow: str = "") -> Holder:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container's uid without a passwd entry
        user = str(os.getuid())
    return Holder(user, socket.gethostname(), os.getpid(), now, secrets.token_hex(8), workflow)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_locally(held: Holder, mine: Holder) -> bool:
    """This workflow's or this process's own lock, or one of a dead process of this host."""
    if mine.workflow:
        return held.workflow == mine.workflow
    if held.host != mine.host or held.workflow:
        return False
    return held.pid == mine.pid or not _alive(held.pid)


def _read(client: Minio, where: layout.RunLayout) -> Holder | None:
    data = s3.get_optional(client, where.bucket, where.lock)
    return None if data is None else parse(data)


def holder(client: Minio, spec: BatchSpec, run: str) -> Holder | None:
    """Who holds the run's lock, if anyone."""
    return _read(client, layout.RunLayout.of(spec, run))


def parse(data: bytes) -> Holder:
    """A lock object's holder (an unreadable one is "unknown": not a run of this version)."""
    try:
        return Holder(**json.loads(data))
    except (ValueError, TypeError):
        return Holder("unknown", "unknown", 0, 0.0, "")


def _newest_write(client: Minio, where: layout.RunLayout, since: float) -> float:
    """The newest write in the run folder, stopping at the first one after `since`."""
    newest = 0.0
    for _, stamp in s3.list_dated(client, where.bucket, where.root):
        newest = max(newest, stamp)
        if newest > since:
            break
    return newest


@dataclass(frozen=True)
class Taken:
    """A lock written, not read back yet: `confirm` makes it this run's, or refuses."""

    holder: Holder
    settled: float  # time.monotonic() from when it may be read back


def take(
    client: Minio,
    spec: BatchSpec,
    run: str,
    *,
    force: bool = False,
    settle: float = SETTLE,
    workflow: str = "",
) -> Taken:
    """Write the run's lock, for `workflow` (its uid) when run by one. Nothing that needs the
    lock may be written before `confirm`; reading may go on while the lock settles.

    Raises:
        RunError: another live run holds it (one line naming the holder).
    """
    where = layout.RunLayout.of(spec, run)
    mine = me(time.time(), workflow)
    body = json.dumps(asdict(mine)).encode()
    held = _read(client, where)
    if held is not None and not force and not stale_locally(held, mine):
        quiet = quiet_seconds(spec)
        if _newest_write(client, where, time.time() - quiet) > time.time() - quiet:
            raise RunError(
                f"run {run} is in progress: locked by {held.describe()}; wait for it, or pass"
                f" --force if it is gone (a lock goes stale after {quiet:.0f}s without writes)"
            )
    if held is None:
        if not s3.put_if_absent(client, where.bucket, where.lock, body):
            raced = _read(client, where)
            who = raced.describe() if raced else "another run"
            raise RunError(f"run {run} was just locked by {who}")
    else:
        s3.put_bytes(client, where.bucket, where.lock, body, "application/json")
    return Taken(mine, time.monotonic() + settle)


def confirm(client: Minio, spec: BatchSpec, run: str, taken: Taken) -> Holder:
    """Read the lock back once it has settled: this run's holder, or refuse.

    Raises:
        RunError: another run's write landed last (one line naming it).
    """
    time.sleep(max(0.0, taken.settled - time.monotonic()))
    now_held = _read(client, layout.RunLayout.of(spec, run))
    if now_held is None or now_held.token != taken.holder.token:
        who = now_held.describe() if now_held else "another run"
        raise RunError(f"run {run} was just locked by {who}")
    return taken.holder


def renew(client: Minio, spec: BatchSpec, run: str, holder: Holder) -> None:
    """Write the held lock again: the run folder has a fresh write while nothing else is
    written (the plan waiting for room), so no one takes the run as quiet and stale."""
    where = layout.RunLayout.of(spec, run)
    body = json.dumps(asdict(holder)).encode()
    s3.put_bytes(client, where.bucket, where.lock, body, "application/json")


def release(client: Minio, spec: BatchSpec, run: str) -> None:
    """Remove the lock (a missing lock is fine)."""
    where = layout.RunLayout.of(spec, run)
    s3.remove(client, where.bucket, where.lock)


def release_if_mine(client: Minio, spec: BatchSpec, run: str, workflow: str) -> bool:
    """Remove the lock when workflow `workflow` holds it (the aggregate's last act; a
    stopped run --local). True when it is gone; False when another holder has it."""
    held = _read(client, layout.RunLayout.of(spec, run))
    if held is not None and held.workflow != workflow:
        return False
    release(client, spec, run)
    return True
