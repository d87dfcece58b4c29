"""Makespan of a run, simulated: today's static split vs claimed units vs the ideal (pure, fast).

    python bench/bench_balance_sim.py            # the figures (docs/balance.md), ~10 s
    python bench/bench_balance_sim.py --measure  # re-measure the speed spread on this machine

Workers 100 to 1,000, 200 files each. Worker speeds and per-file times are drawn from a spread
measured here (`--measure`: 8 CPU-bound processes on this shared 2-core machine, each timing
fixed chunks of work for 20 s; bench/data/balance-speeds.json), then the issue's two cases:
one worker 3x slower, and 5% of the files 20x longer, clustered in the listing.

Policies, as the code does them:
- static: contiguous equal-count shards, one per worker (stages/shards.py by_count, before).
- claimed: the same shards cut into units of `unit` files, taken in takes as the runner does
  (templates/runner.sh.j2): a worker's own units front to back, then from the tail of a random
  shard with units left (also to fill a take its own last units left short); a take is `want`
  units (4, or a tenth of the shard if fewer, until a unit has shown the pace; then one more
  than cover 1.5 claim rounds at the last unit's time, one when a unit alone does), at most
  an eighth of what is left between the shard's head and tail once others take from it; a
  unit 4x slower than its take was sized for gives the units not started back (a take is one
  event here: a thief's go back when nobody took below them).
  A claim round (a settle and its requests, `ROUND`) runs while the take does; a take too
  short to hide it waits the difference, and each take costs `TAKE_COST` of bookkeeping.
  (The runner measures its rounds and starts one 1.5 rounds before its take ends; here a take
  is decided when the previous one ends.)
- claimed-max: the same, stealing from the shard with most units left (an oracle: the runner
  cannot afford to read every shard's state).
- over-split: Argo-level balancing, `k` x width shards as withParam items run as pods on
  `width` slots in order, each paying `POD_START` (schedule, mount, model load).
ideal = total work / total speed. The issue's bound: 1.05 x ideal + one unit (the longest
unit at the median speed).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import multiprocessing
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import FIGURE
from generator.bucket.claims import SETTLE, first_take, unit_size

DATA = Path(__file__).resolve().parent / "data" / "balance-speeds.json"
ROUND = SETTLE + 0.06  # s: a claim round, its settle and requests (measured here: 0.51-0.59 s)
TAKE_COST = 0.01  # s per take: the runner's bookkeeping (progress, hints)
COVER = 1.5 * ROUND  # what the rest of a take must outlast: a round, with margin
POD_START = 10.0  # s: a new pod's scheduling, sidecar mount and model load (BRIEF: ~5 s torch)


def static(work: Sequence[float], speeds: Sequence[float]) -> float:
    n = len(speeds)
    base, extra = divmod(len(work), n)
    worst, start = 0.0, 0
    for i, speed in enumerate(speeds):
        end = start + base + (i < extra)
        worst = max(worst, sum(work[start:end]) / speed)
        start = end
    return worst


def ideal(work: Sequence[float], speeds: Sequence[float]) -> float:
    return sum(work) / sum(speeds)


def want_for(pace: float) -> int:
    """Units in a take after a unit of `pace` seconds (runner: `want`)."""
    return 1 if pace >= COVER else 1 + math.ceil(COVER / pace)


def portion(want: int, left: int) -> int:
    """At most an eighth of the units left in a shard's shared part (runner: `portion`)."""
    return max(1, min(want, -(-left // 8)))


def claimed(
    work: Sequence[float],
    speeds: Sequence[float],
    unit: int,
    rng: random.Random,
    victim: str = "random",
) -> float:
    """Event-driven: the worker whose take ends first takes its next one."""
    n = len(speeds)
    units = [sum(work[i : i + unit]) for i in range(0, len(work), unit)]
    base, extra = divmod(len(units), n)
    head, tail, start = [], [], 0
    for i in range(n):
        end = start + base + (i < extra)
        head.append(start)
        tail.append(end)
        start = end
    own_end = list(tail)
    left = {r for r in range(n) if head[r] < tail[r]}
    # the first take is the plan's (no claim round), and the next claim starts with it
    want = [max(1, first_take(tail[w] - head[w], n)) for w in range(n)]
    pace = [0.0] * n
    clock = [(0.0, w) for w in range(n)]
    heapq.heapify(clock)
    finish = 0.0
    while clock:
        t, w = heapq.heappop(clock)
        # a take: (shard, unit) pairs, its own ones first
        take: list[tuple[int, int]] = []
        if head[w] < tail[w]:
            lim = want[w]
            if tail[w] < own_end[w]:
                lim = portion(lim, tail[w] - head[w])
            take = [(w, k) for k in range(head[w], head[w] + min(lim, tail[w] - head[w]))]
            head[w] += len(take)
            if head[w] >= tail[w]:
                left.discard(w)
        if len(take) < want[w] and head[w] >= tail[w] and left:
            if victim == "max":
                v = max(left, key=lambda r: tail[r] - head[r])
            else:
                v = rng.choice(tuple(left))
            count = min(portion(want[w] - len(take), tail[v] - head[v]), tail[v] - head[v])
            take += [(v, k) for k in range(tail[v] - 1, tail[v] - 1 - count, -1)]
            tail[v] -= count
            if head[v] >= tail[v]:
                left.discard(v)
        if not take:
            finish = max(finish, t)
            continue
        # a short take claims the next at its start, a longer one after its first unit
        early = pace[w] > 0 and (len(take) - 1) * pace[w] < COVER
        began, first, sized, i = t, 0.0, pace[w], 0
        while i < len(take):
            took = units[take[i][1]] / speeds[w]
            t += took
            first = first or took
            pace[w], want[w] = took, want_for(took)
            rest = len(take) - i - 1
            if took > 4 * sized and rest * took > 2 * COVER and rest > want[w]:
                keep = i + 1 + want[w]
                # the units not started go back (stolen ones when nobody took below them since)
                kept = take[:keep]
                for r in {r for r, _ in take[keep:]}:
                    back = [k for s, k in take[keep:] if s == r]
                    if r == w:
                        head[w] = back[0]
                    elif tail[r] == back[-1]:
                        tail[r] = back[0] + 1
                    else:
                        kept += [(r, k) for k in back]
                        continue
                    left.add(r)
                take = kept
            i += 1
        hidden = t - began if early else t - began - first
        t += max(0.0, ROUND - hidden) + TAKE_COST
        heapq.heappush(clock, (t, w))
    return finish


def over_split(work: Sequence[float], speeds: Sequence[float], k: int) -> float:
    n = len(speeds)
    m = n * k
    base, extra = divmod(len(work), m)
    clock = [(0.0, w) for w in range(n)]
    heapq.heapify(clock)
    finish, start = 0.0, 0
    for i in range(m):
        end = start + base + (i < extra)
        t, w = heapq.heappop(clock)
        t += POD_START + sum(work[start:end]) / speeds[w]
        finish = max(finish, t)
        heapq.heappush(clock, (t, w))
        start = end
    return finish


# ---- the measured spread ----


def _chunks(seconds: float, queue: multiprocessing.Queue[list[float]]) -> None:
    """Fixed chunks of CPU work (sha256 of 4 MiB), each timed, for `seconds`."""
    block = b"x" * (4 << 20)
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        hashlib.sha256(block).digest()
        times.append(time.perf_counter() - t0)
    queue.put(times)


def measure(workers: int = 8, seconds: float = 20.0) -> dict[str, object]:
    queue: multiprocessing.Queue[list[float]] = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_chunks, args=(seconds, queue)) for _ in range(workers)]
    for p in procs:
        p.start()
    runs = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    rates = [len(r) / sum(r) for r in runs]
    median = statistics.median(rates)
    chunks = [t for r in runs for t in r]
    typical = statistics.median(chunks)
    with open("/proc/loadavg", encoding="ascii") as load:
        loadavg = load.read().split()[:3]
    return {
        "what": f"{workers} processes hashing 4 MiB chunks for {seconds:.0f} s at once",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg": loadavg,
        "speeds": sorted(round(r / median, 4) for r in rates),
        "file_times": sorted(round(t / typical, 4) for t in chunks),
    }


# ---- scenarios ----


def scenario(
    name: str, n: int, per: int, rng: random.Random, spread: dict[str, list[float]]
) -> tuple[list[float], list[float]]:
    files = n * per
    if name == "measured":
        speeds = [rng.choice(spread["speeds"]) for _ in range(n)]
        work = [rng.choice(spread["file_times"]) for _ in range(files)]
    elif name == "one 3x slower":
        speeds = [1.0] * n
        speeds[rng.randrange(n)] = 1 / 3
        work = [1.0] * files
    else:  # 5% of the files 20x longer, clustered a third into the listing
        speeds = [1.0] * n
        work = [1.0] * files
        first = files // 3
        for i in range(first, first + files // 20):
            work[i] = 20.0
    return work, speeds


def main() -> int:
    if "--measure" in sys.argv:
        DATA.parent.mkdir(exist_ok=True)
        DATA.write_text(json.dumps(measure(), indent=1) + "\n")
        print(f"wrote {DATA}")
    spread = json.loads(DATA.read_text())
    speeds = spread["speeds"]
    print(
        f"measured ({spread['when']}, load {' '.join(spread['loadavg'])}): worker speeds"
        f" {min(speeds):.2f}-{max(speeds):.2f} of the median, file times p50 1.00"
        f" p95 {spread['file_times'][int(0.95 * len(spread['file_times']))]:.2f}"
        f" max {max(spread['file_times']):.2f}"
    )
    rng = random.Random(25)
    per, batch = 200, 32
    print(
        f"\nmakespan / ideal, {per} files per worker; file mode: units of"
        f" {unit_size('file', batch, per, 1)} files (claims.unit_size), batch mode: units of one"
        f" batch ({batch}); bound = 1.05 x ideal + one unit at the median speed\n"
    )
    print(f"{'case':<18}{'workers':>8}{'static':>8}{'file':>7}{'batch':>7}{'oracle':>7}"
          f"{'over4':>7}{'bound':>7}  within")  # fmt: skip
    t0 = time.perf_counter()
    rows = []
    for name in ("measured", "one 3x slower", "5% 20x, clustered"):
        for n in (100, 300, 1000):
            work, sp = scenario(name, n, per, rng, spread)
            best = ideal(work, sp)
            unit = unit_size("file", batch, len(work), n)
            ratios = [
                static(work, sp) / best,
                claimed(work, sp, unit, rng) / best,
                claimed(work, sp, batch, rng) / best,
                claimed(work, sp, unit, rng, "max") / best,
                over_split(work, sp, 4) / best,
            ]
            longest = max(sum(work[i : i + unit]) for i in range(0, len(work), unit))
            bound = (1.05 * best + longest / statistics.median(sp)) / best
            ok = "yes" if ratios[1] <= bound else "NO"
            rows.append((name, n, *ratios, bound, ok))
            print(f"{name:<18}{n:>8}" + "".join(f"{r:>7.2f}" for r in ratios)
                  + f"{bound:>7.2f}  {ok}")  # fmt: skip
    print(f"\n{time.perf_counter() - t0:.1f} s for {len(rows)} simulations")
    print("\nfiles per unit, one worker 3x slower, 300 workers (makespan / ideal):")
    work, sp = scenario("one 3x slower", 300, per, rng, spread)
    best = ideal(work, sp)
    for size in (1, 5, 8, 32, 128, per):
        print(f"  {size:>4} files: {claimed(work, sp, size, rng) / best:.3f}")
    print(
        f"{FIGURE} simulated makespan / ideal, worst of {len(rows)} cases (100-1,000 workers):"
        f" claimed units {max(r[3] for r in rows):.2f} (file mode),"
        f" {max(r[4] for r in rows):.2f} (batches of {batch}); static split"
        f" {max(r[2] for r in rows):.2f}; Argo over-split x4 {max(r[6] for r in rows):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
