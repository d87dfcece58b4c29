"""A run's result objects: parsing one, and finding each file's latest in compact memory.

`results/<shard>/<id>.ok|.fail` (see templates/runner.sh.j2). A file may have results under
several shards (each plan numbers its shards afresh) and, if a runner stopped between
writing one and deleting the other, both an .ok and a .fail: the newest object wins (S3's
last-modified, the server's clock); on a tie the .fail, so a stale success never hides a
failure. The index keeps 20 bytes per result (ids, shard numbers, times in arrays), not a
Python object per result: a million results take ~20 MB (~40 MB while the arrays grow).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from generator.bucket import layout


def parse_result(text: str) -> dict[str, Any]:
    """A runner result object: `name value` lines, then `--` and the log tail.

    Fields a runner of an older version did not write (identity, invocation) come back empty.
    """
    head, _, tail = text.partition("\n--\n")
    fields: dict[str, Any] = {}
    for line in head.splitlines():
        name, _, value = line.partition(" ")
        fields[name] = value
    out: dict[str, Any] = {"error": tail.strip()[-2000:]}
    for name, cast in (("exit_code", int), ("seconds", float), ("outputs", int)):
        try:
            out[name] = cast(fields[name])
        except (KeyError, ValueError):
            out[name] = None
    for name in ("reason", "identity", "invocation"):
        out[name] = fields.get(name, "")
    return out


@dataclass(frozen=True)
class Found:
    shard: str
    ok: bool
    stamp: float  # last-modified, epoch seconds (server clock)


class ResultIndex:
    """Each file id's latest result, looked up by binary search in sorted arrays."""

    def __init__(self) -> None:
        self.shards: list[str] = []
        self._ids = array("Q")
        self._meta = array("L")  # shard number << 1 | ok
        self._stamps = array("d")

    @classmethod
    def build(cls, listing: Iterable[tuple[str, float]]) -> ResultIndex:
        """The latest result of each file of a (streamed) `results/` listing: (key, stamp)."""
        numbers: dict[str, int] = {}
        ids, meta, stamps = array("Q"), array("L"), array("d")
        for key, stamp in listing:
            parsed = layout.parse_result_key(key)
            if parsed is None:
                continue
            shard, fid, status = parsed
            ids.append(int(fid, 16))
            meta.append(numbers.setdefault(shard, len(numbers)) << 1 | (status == "ok"))
            stamps.append(stamp)
        out = cls()
        out.shards = list(numbers)
        # The listing is one run of ascending ids per shard folder: merging those runs sorts
        # with O(shards) extra memory, where sorted() would hold ~76 bytes per result.
        starts = [0, *(i for i in range(1, len(ids)) if ids[i] < ids[i - 1]), len(ids)]
        spans = (range(a, b) for a, b in itertools.pairwise(starts))
        for i in heapq.merge(*spans, key=ids.__getitem__):
            if out._ids and out._ids[-1] == ids[i]:
                newer = stamps[i] > out._stamps[-1]
                tie_fail = stamps[i] == out._stamps[-1] and not meta[i] & 1
                if newer or tie_fail:
                    out._meta[-1], out._stamps[-1] = meta[i], stamps[i]
                continue
            out._ids.append(ids[i])
            out._meta.append(meta[i])
            out._stamps.append(stamps[i])
        return out

    def __len__(self) -> int:
        return len(self._ids)

    def find(self, fid: str) -> Found | None:
        wanted = int(fid, 16)
        at = bisect.bisect_left(self._ids, wanted)
        if at == len(self._ids) or self._ids[at] != wanted:
            return None
        meta = self._meta[at]
        return Found(self.shards[meta >> 1], bool(meta & 1), self._stamps[at])

    def key(self, where: layout.RunLayout, fid: str, found: Found) -> str:
        return f"{where.results}{found.shard}/{fid}.{'ok' if found.ok else 'fail'}"


def output_groups(
    listing: Iterable[tuple[str, float]], outputs: str, input_prefix: str, index: ResultIndex
) -> Iterator[tuple[str, list[str]]]:
    """(key under the input prefix, output names) of each succeeded file, from ONE streamed
    listing of a run's `outputs/` (instead of a listing per file).

    A file's outputs share the prefix `outputs/<rel>/`, so they are contiguous in S3's key
    order, and the groups come in the order of `rel + "/"`. Where `rel` ends is found by
    asking the results, shortest first: the prefix whose key has a result. Outputs of a file
    whose latest result is a failure (stale ones) are left out.
    """
    current: str | None = None
    names: list[str] = []
    for key, _ in listing:
        path = key[len(outputs) :]
        if current is not None and path.startswith(current + "/"):
            names.append(path[len(current) + 1 :])
            continue
        if current is not None:
            yield current, names
        current, names = None, []
        at = path.find("/")
        while at != -1:
            found = index.find(layout.file_id(input_prefix + path[:at]))
            if found is not None:
                if found.ok:
                    current, names = path[:at], [path[at + 1 :]]
                break
            at = path.find("/", at + 1)
    if current is not None:
        yield current, names
