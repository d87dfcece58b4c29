"""Makespan through `run --local`: claimed units vs the static split, on the same inputs,
interleaved A B A B, with one worker 3x slower and, separately, 5% of the files 20x longer
clustered in one part of the listing.

Usage: python bench/bench_balance.py [--pairs N] [--cases slow,heavy] [--baseline REF]

A, the static split, is this checkout with one unit per shard (its plan's `unit_size` is the
whole share, through a runtime-image folder given to `run --local --image-dir`): each worker
claims its own shard at once and nobody can take from it, with the same runner, result
objects and pods as B; so A and B differ only in how the work is shared. `--baseline REF`
takes REF's checkout instead (its own git worktree and virtualenv, its pods running its own
stages), e.g. 300068b, the last commit before units were claimed.

The service sleeps `BASE` s per file (a model's time, no CPU: this machine is shared), 3x that
in shard 0000's pod (its environment names its shard), 20x for a run of files a third into the
listing, and writes into its output the pod's shard and when it started and ended (the
kernel's uptime: one clock for every pod). Makespan = from the first file's start to the last
file's end. Ideal = total work / workers, where a file's work is its seconds plus the runner's
own time per file, measured in the same pair's static run (its workers never wait: each
one's span less its files' seconds); what claiming costs beyond that counts against B.
Bound = 1.05 x ideal + one unit of the plan (the longest file and the runner's time, x the
files per unit; stricter than the issue's one batch). Balance = makespan / the mean of the
workers' spans (first start to last end): 1.0 when every worker works until the end.
The load (`uptime`) is printed beside each run: the machine is shared.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, figure

WORKERS, FILES, BASE = 4, 240, 0.2
HEAVY = (FILES // 3, FILES // 3 + FILES // 20)
SCRIPT = f"""#!/bin/sh
read -r t0 _ </proc/uptime
n=${{STORAGE_OBJECT_KEY##*/}}
n=${{n%.jpg}}
t={BASE}
[ "$CASE" = slow ] && [ "$OSCAR_BATCH_SHARD" = 0000 ] && t={BASE * 3}
[ "$CASE" = heavy ] && [ "$n" -ge 1{HEAVY[0]:03d} ] && [ "$n" -lt 1{HEAVY[1]:03d} ] && t={BASE * 20}
sleep "$t"
cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"
read -r t1 _ </proc/uptime
echo "$OSCAR_BATCH_SHARD $t0 $t1" >"$TMP_OUTPUT_DIR/t"
"""
# A's runtime image: this checkout's oscar-batch, its plan cutting each shard into one unit
STATIC = f"""#!{sys.executable}
import math, sys
from generator.bucket import claims
claims.unit_size = lambda invoke, batch_size, files, width: math.ceil(files / max(1, width))
from generator.cli import main
sys.exit(main())
"""
RUNTIME_IMAGE = "ghcr.io/grycap/oscar-batch"


def spec_text(case: str) -> str:
    return (
        f"name: bal-{case}\n"
        "service: {name: sleeper, image: alpine, script: script.sh, cpu: 100m, memory: 64Mi,"
        f" env: {{CASE: {case}}}}}\n"
        f"input: {{bucket: pics, prefix: in/}}\nplanning: {{max_workers: {WORKERS}}}\n"
        # the input as a link (a copy per file is bench_input's subject)
        "worker: {input: link}\n"
    )


def baseline_tree(ref: str) -> tuple[Path, Path]:
    """(checkout, its Python) of REF."""
    tree = Path(tempfile.gettempdir()) / f"oscar-batch-bench-balance-{ref}"
    python = tree / ".venv" / "bin" / "python"
    if not tree.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
            check=True, capture_output=True,
        )  # fmt: skip
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(tree / ".venv")], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-e", str(tree)], check=True
        )  # fmt: skip
    return tree, python


def one_run(side: dict[str, Any], case: str, work: Path) -> dict[str, Any]:
    tree, python = side["tree"], side["python"]
    data = work / "data"
    (data / "pics" / "in").mkdir(parents=True)
    for i in range(FILES):  # names 1000.jpg..: numbers the script can compare
        (data / "pics" / "in" / f"1{i:03d}.jpg").write_bytes(b"x")
    folder = work / "spec"
    folder.mkdir()
    (folder / "script.sh").write_text(SCRIPT)
    (folder / "batch.yaml").write_text(spec_text(case))
    argv = [str(python), "-m", "generator", "run", str(folder / "batch.yaml"), "--local",
            "--data-dir", str(data), "--run", "b", "-o", "json"]  # fmt: skip
    if side.get("static"):
        image = work / "static-image"
        image.mkdir()
        (image / "oscar-batch").write_text(STATIC)
        (image / "oscar-batch").chmod(0o755)
        argv += ["--image-dir", f"{RUNTIME_IMAGE}={image}"]
    # the pods' stages are the `oscar-batch` on PATH: that of the version measured
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tree, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    report = json.loads(done.stdout)
    run_root = data / "pics" / "oscar-batch" / "b"
    starts, ends, seconds = [], [], []
    spans: dict[str, list[float]] = {}
    for stamp in (run_root / "outputs").glob("*/t"):
        pod, t0, t1 = stamp.read_text().split()
        start, end = float(t0), float(t1)
        starts.append(start)
        ends.append(end)
        seconds.append(end - start)
        span = spans.setdefault(pod, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    assert report["succeeded"] == FILES == len(seconds), report
    plan = json.loads((run_root / "plan.json").read_text())
    unit = plan.get("unit_files") or FILES // WORKERS
    widths = [b - a for a, b in spans.values()]
    return {
        "balance": (max(ends) - min(starts)) / (sum(widths) / len(widths)),
        "makespan": max(ends) - min(starts),
        "seconds": sum(seconds),
        "longest": max(seconds),
        "runner": (sum(widths) - sum(seconds)) / FILES,
        "unit": unit,
        "workers": report["workers"],
    }


def ideal(run: dict[str, Any], runner: float) -> tuple[float, float]:
    """(ideal, bound) of a run, with the runner's time per file measured in the static run."""
    best = (run["seconds"] + FILES * runner) / run["workers"]
    return best, 1.05 * best + run["unit"] * (run["longest"] + runner)


def main() -> int:
    args = sys.argv[1:]
    pairs = int(args[args.index("--pairs") + 1]) if "--pairs" in args else 3
    cases = args[args.index("--cases") + 1].split(",") if "--cases" in args else ["slow", "heavy"]
    here = {"tree": ROOT, "python": Path(sys.executable)}
    if "--baseline" in args:
        ref = args[args.index("--baseline") + 1]
        tree, python = baseline_tree(ref)
        base: dict[str, Any] = {"tree": tree, "python": python}
        what = f"{ref}'s checkout"
    else:
        base, what = {**here, "static": True}, "this checkout, one unit per shard"
    print(f"{WORKERS} workers, {FILES} files of {BASE} s; A = static split ({what}), B = claimed")
    for case in cases:
        runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
        loads = []
        for _ in range(pairs):
            for side, which in (("A", base), ("B", here)):
                with tempfile.TemporaryDirectory(prefix="oscar-batch-bench-balance-") as tmp:
                    t0 = time.perf_counter()
                    r = one_run(which, case, Path(tmp))
                runs[side].append(r)
                loads.append(os.getloadavg()[0])
                best, bound = ideal(r, runs["A"][-1]["runner"])
                print(
                    f"  {case:<5} {side}: makespan {r['makespan']:6.1f} s, ideal {best:5.1f} s,"
                    f" bound {bound:5.1f} s, runner {1000 * r['runner']:.0f} ms/file,"
                    f" balance {r['balance']:.3f}"
                    f" ({time.perf_counter() - t0:.0f} s with plan, pods, aggregate;"
                    f" load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
        a, b = runs["A"], runs["B"]
        ratio = statistics.median(y["makespan"] / x["makespan"] for x, y in zip(a, b, strict=True))
        over = statistics.median(
            y["makespan"] / ideal(y, x["runner"])[0] for x, y in zip(a, b, strict=True)
        )
        within = sum(y["makespan"] <= ideal(y, x["runner"])[1] for x, y in zip(a, b, strict=True))
        balance = [statistics.median(r["balance"] for r in side) for side in (a, b)]
        runner = [statistics.median(1000 * r["runner"] for r in side) for side in (a, b)]
        print(
            f"{case}: balance (makespan / mean worker span) A {balance[0]:.3f}, B {balance[1]:.3f};"
            f" runner ms/file A {runner[0]:.0f}, B {runner[1]:.0f}"
        )
        label = "one worker 3x slower" if case == "slow" else "5% of files 20x, clustered"
        print(f"{case}: B/A median {ratio:.2f}; B makespan/ideal median {over:.3f}; within bound"
              f" {within}/{len(b)}; load {min(loads):.1f}-{max(loads):.1f}")  # fmt: skip
        figure(
            f"run --local makespan, {label}: claimed / static split (median of {pairs} pairs)",
            f"{ratio:.2f} (claimed {over:.2f}x ideal, within bound {within}/{len(b)};"
            f" balance {balance[0]:.2f} static, {balance[1]:.3f} claimed;"
            f" load {min(loads):.1f}-{max(loads):.1f})",
            "<= 1.05 x ideal + one unit",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
