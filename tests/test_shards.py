"""Sharding always partitions the input exactly, within the promised balance."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from generator.stages import shards


@given(st.integers(0, 5000), st.integers(1, 300))
def test_by_count_partitions_with_sizes_differing_by_at_most_one(n: int, k: int) -> None:
    ranges = shards.by_count(n, k)
    assert len(ranges) == k
    assert [i for r in ranges for i in r] == list(range(n))
    lengths = [len(r) for r in ranges]
    assert max(lengths) - min(lengths) <= 1


@given(st.lists(st.integers(0, 10**9), max_size=400), st.integers(1, 40))
def test_by_bytes_stays_within_lower_bound_plus_largest_file(sizes: list[int], k: int) -> None:
    members = shards.assign(sizes, k, "bytes")
    assert sorted(i for m in members for i in m) == list(range(len(sizes)))
    assert all(list(m) == sorted(m) for m in members)
    loads = [sum(sizes[i] for i in m) for m in members]
    lower = sum(sizes) / k
    assert max(loads) <= lower + max(sizes, default=0)


def test_bytes_balance_beats_count_for_skewed_sizes() -> None:
    sizes = [1000] * 4 + [1] * 400
    by_bytes = [sum(sizes[i] for i in m) for m in shards.assign(sizes, 4, "bytes")]
    by_count = [sum(sizes[i] for i in m) for m in shards.assign(sizes, 4, "count")]
    assert max(by_bytes) < max(by_count)
