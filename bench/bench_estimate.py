"""The estimate `plan` makes from a 10% sample, against the full run it predicts, on this
machine: the image-stats example through `run --local`, a sample of every 10th image, then
all of them; the estimate (stages/estimate.py, from the sample's report.json, for the full
run's file count and width) against the full run's measured wall time (its plan to its
aggregate, as report.json says). Pairs interleaved (sample, full, sample, full, ...).

Usage: python bench/bench_estimate.py [IMAGES] [PAIRS]
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, figure
from generator.build import workerpod
from generator.spec import model as spec
from generator.stages import capacity, estimate

EXAMPLE = ROOT / "examples" / "image-stats"
# the same planning rule for both: a 10% sample of 300 images still gets this machine's width
# (the example's few broken images fail; a sample's share of them must not fail the run)
SETTINGS = ["--set", "planning.min_files_per_worker=10", "--set", "failure.max_failed_ratio=1"]


def run_local(data: Path, run: str) -> dict[str, Any]:
    exe = Path(sys.executable).parent / "oscar-batch"
    done = subprocess.run(
        [str(exe), "run", str(EXAMPLE / "batch.yaml"), "--local", "--data-dir", str(data),
         "--run", run, "-o", "json", *SETTINGS],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"run --local {run} failed: {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def main(argv: list[str]) -> int:
    images = int(argv[1]) if len(argv) > 1 else 300
    pairs = int(argv[2]) if len(argv) > 2 else 3
    work = Path(tempfile.mkdtemp(prefix="bench-estimate-"))
    source = work / "source"
    subprocess.run([sys.executable, str(EXAMPLE / "make_images.py"), str(source), str(images)],
                   check=True, capture_output=True)  # fmt: skip
    files = sorted(p for p in (source / "images").rglob("*") if p.is_file())
    batch = spec.load(EXAMPLE / "batch.yaml")
    cpu = capacity.pod_requests(workerpod.pod_spec(batch)).get("cpu", 0) / 1000
    errors = []
    for i in range(pairs):
        sample_data, full_data = work / f"sample-{i}", work / f"full-{i}"
        for n, f in enumerate(files):
            for target, keep in ((full_data, True), (sample_data, n % 10 == 0)):
                if keep:
                    dest = target / f.relative_to(source)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, dest)
        sample = run_local(sample_data, f"sample-{i}")
        full = run_local(full_data, f"full-{i}")
        processed = full["attempt"]["processed"]
        guess = estimate.estimate(sample, processed, full["workers"], cpu, 0.0)
        assert guess is not None
        measured = full["wall_seconds"]
        error = guess.wall_seconds / measured - 1
        errors.append(error)
        print(
            f"pair {i + 1}: sample {sample['attempt']} on {sample['workers']} workers in"
            f" {sample['wall_seconds']} s -> t {guess.file_seconds:.2f} s/file, F"
            f" {guess.fixed_seconds:.0f} s; full {processed} files on {full['workers']} workers:"
            f" estimate {guess.wall_seconds:.0f} s, measured {measured:.0f} s ({error:+.0%})"
        )
        shutil.rmtree(sample_data)
        shutil.rmtree(full_data)
    median = statistics.median(errors)
    worst = max(errors, key=abs)
    figure(
        "estimate from a 10% sample vs the full run (median error)", f"{median:+.0%}", "within 20%"
    )
    figure("  worst of the pairs", f"{worst:+.0%}")
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
