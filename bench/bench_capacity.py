"""Capacity: workers planned versus what actually fits, for our per-node planner and for the
original OSCAR-Batch formula (cluster-wide free totals x 0.8 / request), on generated clusters.

Pods that do not fit stay Pending until a placed one finishes; with equal shards of F files at
t seconds each, the makespan is ceil(planned / placeable) x (F / planned) x t.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure
from generator.spec import quantity
from generator.stages import capacity

FILES, SECONDS_PER_FILE = 100_000, 2.0
REQUEST = {"cpu": quantity.milli("1.1"), "memory": quantity.milli("3.25Gi")}  # 1 cpu/3Gi + sidecar


def cluster(
    seed: int, shapes: list[tuple[str, str]], n: int, busy: float
) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    nodes, pods = [], []
    for i in range(n):
        cpu, mem = rng.choice(shapes)
        name = f"n{i:03d}"
        nodes.append({"metadata": {"name": name}, "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": "110"},
                      "conditions": [{"type": "Ready", "status": "True"}]}})  # fmt: skip
        used_cpu = quantity.parse(cpu) * rng.uniform(busy * 0.5, min(1.0, busy * 1.5))
        used_mem = quantity.parse(mem) * rng.uniform(busy * 0.5, min(1.0, busy * 1.5))
        pods.append({"spec": {"nodeName": name, "containers": [{"resources": {"requests": {
            "cpu": f"{int(used_cpu * 1000)}m", "memory": str(int(used_mem))}}}]}, "status": {"phase": "Running"}})  # fmt: skip
    return nodes, pods


def original(fits: list[capacity.NodeFit]) -> int:
    cpu = sum(f.free.get("cpu", 0) for f in fits) * 0.8
    mem = sum(f.free.get("memory", 0) for f in fits) * 0.8
    return max(1, math.floor(min(cpu / REQUEST["cpu"], mem / REQUEST["memory"])))


def makespan(planned: int, placeable: int) -> float:
    waves = math.ceil(planned / placeable)
    return waves * (FILES / planned) * SECONDS_PER_FILE


def main() -> int:
    scenarios = {
        "uniform 8 x 4cpu/16Gi, 30% busy": ([("4", "16Gi")], 8, 0.3),
        "fragmented 20 x 2cpu/8Gi, 40% busy": ([("2", "8Gi")], 20, 0.4),
        "mixed shapes 30 nodes, 50% busy": (
            [("2", "4Gi"), ("8", "8Gi"), ("4", "32Gi"), ("16", "64Gi")],
            30,
            0.5,
        ),
        "memory-poor 12 x 16cpu/6Gi, 20% busy": ([("16", "6Gi")], 12, 0.2),
    }
    print(
        "scenario | placeable | ours planned / pending / makespan h | original planned / pending / makespan h"
    )
    for label, (shapes, n, busy) in scenarios.items():
        nodes, pods = cluster(7, shapes, n, busy)
        fits = capacity.fit_cluster(nodes, pods, REQUEST, selector={}, tolerations=())
        placeable = sum(f.fits for f in fits)
        ours = placeable
        theirs = original(fits)
        figure(
            f"capacity, {label}: Pending pods ours / original",
            f"{max(0, ours - placeable)} / {max(0, theirs - placeable)}",
        )
        figure(
            f"capacity, {label}: makespan h ours / original",
            f"{makespan(ours, placeable) / 3600:.1f} / {makespan(theirs, placeable) / 3600:.1f}",
        )
        print(
            f"{label} | {placeable} | {ours} / {max(0, ours - placeable)} / {makespan(ours, placeable) / 3600:.1f}"
            f" | {theirs} / {max(0, theirs - placeable)} / {makespan(theirs, placeable) / 3600:.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
