"""The projected overhead of a whole job, from costs measured here: the tool's time on the
critical path (plan, pod starts, the runner's per-file work, the model loads its invocations
cause, the aggregate) over the pure model time, for 100k / 500k / 1M files in each
`worker.invoke` mode.

Measured (median of ROUNDS): the runner's CPU per file beyond the shell-loop floor, in `file`
and `batch` mode through real mounts (bench_runner.py, interleaved with the floor: what the
runner adds to running the service and storing its outputs, which any tool must do),
the plan's time per key (listing the real S3 server, sharding, writing manifests) and the
aggregate's time per file (a staged half-failed run, as bench_runs.py). Given (the job of
issue 21, OBSEA-style): 0.2 s of model time per image, 2.3 s per model load (a process that
imports torch and builds YOLOv8n, measured by bench_model.py), 20 single-core workers, and
30 s of pod starts (plan, workers, aggregate) on a cluster with the images cached.

Usage: python bench/bench_projection.py [ROUNDS]
Target (issue 21): overhead under 5% of the model time with `invoke: batch`.
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_runner import BATCH_SCRIPT, FILE_SCRIPT, ONE_NODE, run_once, worker_mounts
from bench.bench_runs import SPEC, stage
from bench.common import figure, populate
from generator.build import runner_script, workerpod
from generator.clients import s3 as storage
from generator.local import rclone
from generator.spec import model as spec_mod
from generator.stages import aggregate
from generator.stages import plan as planner

MODEL_SECONDS = 0.2  # per image
LOAD_SECONDS = 2.3  # per model load (one per invocation)
WORKERS = 20
POD_STARTS = 30.0
SIZES = (100_000, 500_000, 1_000_000)
MODES = (("file", 1), ("batch", 32), ("batch", 100), ("batch", 500), ("batch", 1000))
RUNNER_FILES = 200
PLAN_KEYS = 20_000
AGGREGATE_FILES = 50_000


def _spec(folder: Path, mode: str, script: str) -> spec_mod.BatchSpec:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "s.sh").write_text(script)
    (folder / "batch.yaml").write_text(
        "name: bench\nservice: {name: s, image: alpine, script: s.sh}\n"
        f"input: {{bucket: bench, prefix: in/}}\nworker: {{invoke: {mode}, batch_size: 32}}\n"
        "planning: {max_workers: 1}\n"
    )
    return spec_mod.load(folder / "batch.yaml")


def measure(rounds: int, base: Path) -> dict[str, float]:
    """Seconds per file: runner (file, batch), plan, aggregate."""
    data = base / "data"
    populate(data / "bench" / "in", max(RUNNER_FILES, PLAN_KEYS), size=2048)
    specs = {
        "file": _spec(base / "file", "file", FILE_SCRIPT),
        "batch": _spec(base / "batch", "batch", BATCH_SCRIPT),
    }
    got: dict[str, list[float]] = {"file": [], "batch": [], "plan": [], "aggregate": []}
    with ExitStack() as stack:
        ep = stack.enter_context(rclone.serve_s3(data))
        client = storage.make_client(ep.endpoint, ep.access_key, ep.secret_key)
        for i in range(rounds):
            t0 = time.perf_counter()
            planner.run_plan(client, specs["file"], f"plan-{i}", ONE_NODE)
            got["plan"].append((time.perf_counter() - t0) / PLAN_KEYS)
        # runner runs: RUNNER_FILES of the keys, planned before the mounts (as in a pod)
        keys = [(f"in/d{i // 1000:05d}/img-{i:07d}.jpg", 2048) for i in range(RUNNER_FILES)]
        runs = {
            (mode, who, i): planner.run_plan(
                client, s, f"{mode}-{who}-{i}", ONE_NODE, objects=keys
            ).run
            for mode, s in specs.items()
            for who in ("floor", "runner")
            for i in range(rounds)
        }
        root = base / "mnt"
        for i in range(rounds):
            for mode, s in specs.items():
                points = [m.point for m in workerpod.mounts(s, str(root), "r") if m.runner]
                with worker_mounts(ep, "bench", root, runs[mode, "floor", i]):
                    _, floor, floor_rclone = run_once(
                        "floor", None, s, runs[mode, "floor", i], root
                    )
                text = runner_script.render(points)
                with worker_mounts(ep, "bench", root, runs[mode, "runner", i]):
                    service = runner_script.render_service([])
                    run = runs[mode, "runner", i]
                    _, cpu, cpu_rclone = run_once(mode, text, s, run, root, service)
                added = cpu + cpu_rclone - floor - floor_rclone
                got[mode].append(max(0.0, added) / RUNNER_FILES)
    folder = base / "spec-aggregate"
    folder.mkdir()
    (folder / "s.sh").write_text("true\n")
    (folder / "batch.yaml").write_text(SPEC)
    s = spec_mod.load(folder / "batch.yaml", ["output.merge=[]"])
    runs_root = base / "runs"
    stage(runs_root, s, "half-failed", AGGREGATE_FILES, fail_every=2, differ=False)
    with rclone.serve_s3(runs_root) as ep:
        client = storage.make_client(ep.endpoint, ep.access_key, ep.secret_key)
        for _ in range(rounds):
            t0 = time.perf_counter()
            aggregate.run_aggregate(client, s, "half-failed")
            got["aggregate"].append((time.perf_counter() - t0) / AGGREGATE_FILES)
    return {name: statistics.median(values) for name, values in got.items()}


def overhead(files: int, mode: str, batch: int, cost: dict[str, float]) -> float:
    """The tool's seconds on the critical path over one worker's model seconds."""
    per_worker = files / WORKERS
    model = per_worker * MODEL_SECONDS
    loads = math.ceil(per_worker / batch) * LOAD_SECONDS
    tool = (
        cost["plan"] * files
        + POD_STARTS
        + per_worker * cost[mode]
        + loads
        + cost["aggregate"] * files
    )
    return tool / model


def main(argv: list[str]) -> int:
    rounds = int(argv[1]) if len(argv) > 1 else 3
    cost = measure(rounds, Path(tempfile.mkdtemp(prefix="bench-projection-")))
    print(
        f"measured (median of {rounds}), ms per file: the runner's CPU beyond the floor, file mode"
        f" {cost['file'] * 1e3:.2f}, batch mode {cost['batch'] * 1e3:.2f}; plan {cost['plan'] * 1e3:.3f};"
        f" aggregate {cost['aggregate'] * 1e3:.3f}"
    )
    print(
        f"given: {MODEL_SECONDS} s model time per image, {LOAD_SECONDS} s per model load,"
        f" {WORKERS} workers, {POD_STARTS:.0f} s of pod starts"
    )
    names = [f"{m}" if m == "file" else f"batch {b}" for m, b in MODES]
    print("\nprojected overhead, % of the model time\nfiles | " + " | ".join(names))
    for files in SIZES:
        cells = [f"{overhead(files, m, b, cost) * 100:.1f}%" for m, b in MODES]
        print(f"{files:,} | " + " | ".join(cells))
    at = {b: overhead(500_000, "batch", b, cost) for _, b in MODES[1:]}
    best = min(b for b, v in at.items() if v < 0.05) if any(v < 0.05 for v in at.values()) else None
    for b, value in at.items():
        figure(
            f"projected overhead, 500k images, batch {b} (% of model time)",
            f"{value * 100:.1f}%",
            "< 5%" if b == best else "",
        )
    figure(
        "projected overhead, 500k images, file mode (% of model time)",
        f"{overhead(500_000, 'file', 1, cost) * 100:.0f}%",
    )
    # batch_size: loads cost LOAD/B per file; a crashing file costs about
    # (log2(B) + 1) loads and B files processed again: best B ~ sqrt(LOAD / (p * MODEL))
    print("\nbatch_size that minimises loads + bisection, by the share p of files that crash it:")
    for p in (1e-2, 1e-3, 1e-4, 1e-5):
        print(f"p = {p:g}: batch_size ~ {math.sqrt(LOAD_SECONDS / (p * MODEL_SECONDS)):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
