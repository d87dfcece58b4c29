"""Makespan through `run --local`: claimed units (this checkout) vs the static split (a baseline
commit), on the same inputs, interleaved A B A B, with one worker 3x slower and, separately,
5% of the files 20x longer clustered in one part of the listing.

Usage: python bench/bench_balance.py [--pairs N] [--baseline REF]

The service sleeps `BASE` s per file (a model's time, no CPU: this machine is shared), 3x that
in shard 0000's pod (its environment names its shard), 20x for a run of files a third into the
listing. Makespan = from the first file's start to the last result, from the result objects on
the embedded server's disk (their mtime, less the file's seconds). Ideal = total work /
workers, where a file's work is its seconds plus the runner's own time per file, measured in
the same pair's static run (its workers never wait: each one's span less its files' seconds);
what claiming costs beyond that counts against it (and so does anything else the two versions
do differently per file). Bound = 1.05 x ideal + one unit (the longest file and the runner's
time, x the files per unit). Balance = makespan / the mean of the workers' spans (first start
to last result): 1.0 when every worker works until the end, whatever a file costs.
REF (default: the commit before units were claimed) is checked out once in a temporary git
worktree with its own virtualenv (`pip install -e`), so its pods run its own stages.
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

BASELINE = "300068b"  # the static split: one shard per worker, processed by its worker alone
WORKERS, FILES, BASE = 4, 240, 0.2
HEAVY = (FILES // 3, FILES // 3 + FILES // 20)
SCRIPT = f"""#!/bin/sh
n=${{STORAGE_OBJECT_KEY##*/}}
n=${{n%.jpg}}
t={BASE}
[ "$CASE" = slow ] && [ "$OSCAR_BATCH_SHARD" = 0000 ] && t={BASE * 3}
[ "$CASE" = heavy ] && [ "$n" -ge 1{HEAVY[0]:03d} ] && [ "$n" -lt 1{HEAVY[1]:03d} ] && t={BASE * 20}
sleep "$t"
cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"
"""


def spec_text(case: str, extra: str) -> str:
    return (
        f"name: bal-{case}\n"
        "service: {name: sleeper, image: alpine, script: script.sh, cpu: 100m, memory: 64Mi,"
        f" env: {{CASE: {case}}}}}\n"
        f"input: {{bucket: pics, prefix: in/}}\nplanning: {{max_workers: {WORKERS}}}\n{extra}"
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


def one_run(tree: Path, python: Path, case: str, work: Path) -> dict[str, Any]:
    data = work / "data"
    (data / "pics" / "in").mkdir(parents=True)
    for i in range(FILES):  # names 1000.jpg..: numbers the script can compare
        (data / "pics" / "in" / f"1{i:03d}.jpg").write_bytes(b"x")
    folder = work / "spec"
    folder.mkdir()
    (folder / "script.sh").write_text(SCRIPT)
    # the input as a link, as the baseline gives it (a copy per file is bench_input's subject)
    extra = "worker: {input: link}\n" if tree == ROOT else ""
    (folder / "batch.yaml").write_text(spec_text(case, extra))
    # the pods' stages are the `oscar-batch` on PATH: that of the version measured
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [str(python), "-m", "generator", "run", str(folder / "batch.yaml"), "--local",
         "--data-dir", str(data), "--run", "b", "-o", "json"],
        capture_output=True, text=True, env=env, cwd=tree, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    report = json.loads(done.stdout)
    run_root = data / "pics" / "oscar-batch" / "b"
    starts, ends, seconds = [], [], []
    spans: dict[str, list[float]] = {}
    for result in (run_root / "results").glob("*/*.ok"):
        fields = dict(
            line.split(" ", 1) for line in result.read_text().split("\n--\n")[0].splitlines()
        )
        took = float(fields["seconds"])
        end = result.stat().st_mtime
        starts.append(end - took)
        ends.append(end)
        seconds.append(took)
        span = spans.setdefault(result.parent.name, [end - took, end])
        span[0], span[1] = min(span[0], end - took), max(span[1], end)
    assert report["succeeded"] == FILES == len(seconds), report
    plan = json.loads((run_root / "plan.json").read_text())
    unit = plan.get("unit_files") or FILES // WORKERS
    widths = [b - a for a, b in spans.values()]
    return {
        "balance": (max(ends) - min(starts)) / (sum(widths) / len(widths)),
        "makespan": max(ends) - min(starts),
        "seconds": sum(seconds),
        "longest": max(seconds),
        "runner": (sum(b - a for a, b in spans.values()) - sum(seconds)) / FILES,
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
    ref = args[args.index("--baseline") + 1] if "--baseline" in args else BASELINE
    base = baseline_tree(ref)
    here = (ROOT, Path(sys.executable))
    print(f"{WORKERS} workers, {FILES} files of {BASE} s; A = static split ({ref}), B = claimed")
    for case in ("slow", "heavy"):
        runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
        for _ in range(pairs):
            for side, (tree, python) in (("A", base), ("B", here)):
                with tempfile.TemporaryDirectory(prefix="oscar-batch-bench-balance-") as tmp:
                    t0 = time.perf_counter()
                    r = one_run(tree, python, case, Path(tmp))
                runs[side].append(r)
                best, bound = ideal(r, runs["A"][-1]["runner"])
                print(
                    f"  {case:<5} {side}: makespan {r['makespan']:6.1f} s, ideal {best:5.1f} s,"
                    f" bound {bound:5.1f} s, runner {1000 * r['runner']:.0f} ms/file,"
                    f" balance {r['balance']:.3f}"
                    f" ({time.perf_counter() - t0:.0f} s with plan, pods, aggregate)",
                    flush=True,
                )
        a, b = runs["A"], runs["B"]
        ratio = statistics.median(y["makespan"] / x["makespan"] for x, y in zip(a, b, strict=True))
        over = statistics.median(
            y["makespan"] / ideal(y, x["runner"])[0] for x, y in zip(a, b, strict=True)
        )
        within = sum(y["makespan"] <= ideal(y, x["runner"])[1] for x, y in zip(a, b, strict=True))
        balance = [statistics.median(r["balance"] for r in side) for side in (a, b)]
        print(
            f"{case}: balance (makespan / mean worker span) A {balance[0]:.3f}, B {balance[1]:.3f}"
        )
        label = "one worker 3x slower" if case == "slow" else "5% of files 20x, clustered"
        print(f"{case}: B/A median {ratio:.2f}; B makespan/ideal median {over:.3f}; within bound"
              f" {within}/{len(b)}")  # fmt: skip
        figure(
            f"run --local makespan, {label}: claimed / static split (median of {pairs} pairs)",
            f"{ratio:.2f} (claimed {over:.2f}x ideal, within bound {within}/{len(b)};"
            f" balance {balance[0]:.2f} static, {balance[1]:.3f} claimed)",
            "<= 1.05 x ideal + one unit",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
