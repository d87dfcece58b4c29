"""Balanced sharding of a listing: pure functions, no I/O.

By count, shards are contiguous ranges of the sorted keys whose sizes differ by at most one.
By bytes, largest-first greedy onto the least-loaded shard (LPT): no shard exceeds the lower
bound (total/n) by more than the largest file.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Sequence
from typing import Literal


def by_count(n_files: int, n_shards: int) -> list[range]:
    """Split indexes 0..n_files-1 into n_shards contiguous ranges differing by at most one."""
    if n_shards < 1:
        raise ValueError("need at least one shard")
    base, extra = divmod(n_files, n_shards)
    ranges, start = [], 0
    for i in range(n_shards):
        end = start + base + (1 if i < extra else 0)
        ranges.append(range(start, end))
        start = end
    return ranges


def by_bytes(sizes: Sequence[int], n_shards: int) -> array[int]:
    """Assign each file to a shard, balancing total bytes.

    Returns:
        An array with the shard number of each file, in input order.
    """
    if n_shards < 1:
        raise ValueError("need at least one shard")
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))
    heap = [(0, s) for s in range(n_shards)]
    assignment = array("I", bytes(4 * len(sizes)))
    for i in order:
        load, s = heapq.heappop(heap)
        assignment[i] = s
        heapq.heappush(heap, (load + sizes[i], s))
    return assignment


def assign(
    sizes: Sequence[int], n_shards: int, balance: Literal["count", "bytes"]
) -> list[Sequence[int]]:
    """File indexes of each shard, each in ascending (key) order."""
    if balance == "count":
        return list(by_count(len(sizes), n_shards))
    members: list[Sequence[int]] = [[] for _ in range(n_shards)]
    for i, s in enumerate(by_bytes(sizes, n_shards)):
        members[s].append(i)  # type: ignore[attr-defined]
    return members
