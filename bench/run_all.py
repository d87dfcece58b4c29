"""`make bench`: every benchmark in turn, each printing its figures (about 45 minutes here)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import FIGURE

HERE = Path(__file__).resolve().parent
RUNS = [
    (
        "Planner: list + filter + shard + write manifests vs the bare minio listing",
        ["bench_planner.py", "100000", "1000000"],
    ),
    ("Capacity: our per-node planner vs the original cluster-total formula", ["bench_capacity.py"]),
    ("End to end, local: 5,000 images through run --local vs raw reads", ["bench_e2e.py", "5000"]),
    ("run --local: one pod's start and stop", ["bench_pods.py", "20"]),
    (
        "run --local: a 10-file run (fixed cost) and 1,500 no-op files vs the shell-loop floor",
        ["bench_local.py", "1500", "3"],
    ),
    ("Input staging: worker.input link vs copy through a mount", ["bench_input.py", "5"]),
    ("Generator: cold start and stored sizes", ["bench_generator.py"]),
    ("Lint: 200 workflow files in one call", ["bench_lint.py"]),
    ("Merge: one CSV output of 1k/16k/100k columns (linear)", ["bench_merge.py"]),
    (
        "Runner per file vs the shell-loop floor, file and batch mode (interleaved)",
        ["bench_runner.py", "320", "3"],
    ),
    (
        "Aggregate, merge and compare at 100k files; the half-failed aggregate at 500k",
        ["bench_runs.py", "100000", "500000"],
    ),
    (
        "Projected overhead of a 100k / 500k / 1M-image job, from measured costs",
        ["bench_projection.py", "3"],
    ),
    (
        "Estimate: plan's estimate from a 10% sample vs the measured full run",
        ["bench_estimate.py", "300", "3"],
    ),
    (
        "Model: YOLOv8n, worker.invoke file vs batch vs a warm loop, and the bisect cost",
        ["bench_model.py", "300", "40", "3", "100"],
    ),
]


def main() -> int:
    failed = 0
    figures: list[list[str]] = []
    for title, (script, *args) in RUNS:
        print(f"\n## {title}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(HERE / script), *args], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(FIGURE):
                figures.append(line.strip().removeprefix(FIGURE).split("|"))
            else:
                print(line, end="", flush=True)
        failed += proc.wait() != 0
        print(f"({time.perf_counter() - t0:.0f} s)", flush=True)
    width = max(len(f[0]) for f in figures) if figures else 10
    print(f"\n{'figure':<{width}} | value | target")
    for name, value, target in figures:
        print(f"{name:<{width}} | {value} | {target}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
