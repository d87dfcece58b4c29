"""Units of work and their claim records: how workers share a run's files at run time.

A shard's manifest is cut into units of `worker.batch_size` consecutive lines. The plan
writes one claim record per unit, `claims/<shard>/<k>`, reading "free"; a worker takes a
unit by overwriting it with "held <shard> <attempt>", waiting `SETTLE` seconds and reading
it back (the last writer wins; templates/runner.sh.j2, `try_claim`). A record stays "held"
(a retry of that shard takes back what it holds). A shard's first take is given by the plan:
its records read "held <shard> plan" from the start, so its worker starts at once, without a
claim round (`first_take`). Its own shard's units go first, front to
back; then it takes units from the tail of other shards (`claims/<shard>/tail`, a hint of the
lowest unit taken there; `claims/<shard>/head`, its owner's next unit), so a slow worker's
leftovers are done by the others.

Why fixed-size records overwritten in place: a worker reaches the bucket only through its
rclone mount, whose folder listings are cached (--dir-cache-time 10s): a file another pod
creates stays invisible for that long, but reading a file both know fetches it afresh, as
long as its size does not change (a different size reads short or fails: rclone keeps the
size it listed). No conditional write is needed (`rclone serve s3` ignores If-None-Match);
what the claim relies on is that a PUT replaces an object whole and a GET after it sees it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from generator.bucket.layout import RunLayout

RECORD_BYTES = 40  # one line, newline included: every state has the same size
TAIL_BYTES = 11
# Seconds between a claim's write and its read-back. Two workers that both read "free" both
# write; the one whose write landed last wins and the other sees its token. A unit is taken
# twice only if one of them needed longer than this between reading "free" and its write
# landing (the runner logs such a claim); the next unit is claimed while one runs, so the wait
# costs no time while units last longer than it.
SETTLE = 0.5

# The attempt word of the records the plan writes for a shard's first take: no worker's
# attempt id (an 8-digit hex prefix of a UUID, or digits), and no other worker ever writes them
GIVEN = "plan"

State = Literal["free", "held"]


def record(state: State, shard: str = "", attempt: str = "") -> bytes:
    """A claim record: `<state> <shard> <attempt>`, padded to RECORD_BYTES."""
    text = " ".join(p for p in (state, shard, attempt) if p)
    if len(text) >= RECORD_BYTES:
        raise ValueError(f"claim record too long: {text!r}")
    return f"{text:<{RECORD_BYTES - 1}}\n".encode()


FREE = record("free")


@dataclass(frozen=True)
class Claim:
    state: State
    shard: str
    attempt: str


def parse(data: bytes) -> Claim:
    """The state, holder shard and attempt of a claim record."""
    state, shard, attempt, *_ = [*data.decode("ascii", "replace").split(), "", "", ""]
    if state == "held":
        return Claim("held", shard, attempt)
    return Claim("free", "", "")


def hint(unit: int) -> bytes:
    """A shard's hint: its tail, the lowest unit taken from its end (its unit count at first),
    or its head, the next unit its owner takes (0 at first)."""
    return f"{unit:0{TAIL_BYTES - 1}d}\n".encode()


# In file mode a worker's share is cut into at least this many units: a slow worker's last
# unit, which nobody can take from it, is then a small part of the run (bench/bench_balance_sim).
UNITS_PER_SHARE = 40


def unit_size(invoke: str, batch_size: int, files: int, width: int) -> int:
    """Files per unit: one batch in batch and range modes (one invocation each); in file mode
    at most a batch, fewer when a worker's share would make fewer than UNITS_PER_SHARE units."""
    if invoke != "file":
        return batch_size
    share = math.ceil(files / max(1, width))
    return max(1, min(batch_size, share // UNITS_PER_SHARE))


def first_take(units: int, shards: int) -> int:
    """Units of a shard that the plan gives its worker (held for it before any pod starts): 4,
    or a quarter of the shard when fewer (at least one), the take a worker starts with before
    a unit has shown the pace; every unit when the plan has one shard. No claim round can race
    for them (the records were never free), so the worker's first round needs no settle, and
    the next claim, which starts after the first unit, has the other units' time to settle
    in. A pod that starts late still does these units itself: at most 4 units later than it
    would."""
    if shards == 1:
        return units
    return min(units, max(1, min(4, units // 4)))


def count(files: int, size: int) -> int:
    """Units of a shard of `files` files, `size` files each (the last one may be shorter)."""
    return math.ceil(files / size)


def unit_id(shard: str, unit: int) -> str:
    """How a unit is named in logs and result names: shard and index."""
    return f"{shard}.{unit}"


def objects(
    where: RunLayout, shards: Iterable[tuple[str, int]], size: int
) -> Iterator[tuple[str, bytes]]:
    """What a plan writes for its (shard, units) of `size` files: every claim record "free" but
    those of each shard's first take, held for it (`first_take`), each shard's tail and head
    hints, and units.tsv (shard, units, size, first take). A new plan of a run writes them all
    again: its units start over, free but for each shard's first take.
    """
    listed = []
    pairs = list(shards)
    for sid, units in pairs:
        given = first_take(units, len(pairs))
        listed.append(f"{sid}\t{units}\t{size}\t{given}\n")
        for k in range(units):
            yield where.claim(sid, k), record("held", sid, GIVEN) if k < given else FREE
        yield where.tail(sid), hint(units)
        yield where.head(sid), hint(0)
    yield where.units, "".join(listed).encode()
