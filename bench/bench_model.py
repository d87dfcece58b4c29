"""Model benchmark: YOLOv8n (CPU) on the same generated 640 px images, side by side in one run:
`worker.invoke: file` (one process per image), `worker.invoke: batch` (one process per batch),
both through `oscar-batch run --local` (embedded S3 server, real FUSE mount), and the limit: warm
processes looping over the same files in-process with no runner. Then the bisect cost: one
poison image in a batch whose script exits on it.

The model runs in .venv-bench (`make bench` creates it); without it this prints why and skips.
Usage: python bench/bench_model.py [IMAGES] [FILE_MODE_IMAGES] [PAIRS] [BATCH_SIZE]
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, figure
from generator.spec.model import Worker

MODEL = ROOT / "bench" / "model"
PYTHON = ROOT / ".venv-bench" / "bin" / "python"
CLI = Path(sys.executable).parent / "oscar-batch"
WORK = Path("/tmp/oscar-batch-bench-model")
CORES = os.cpu_count() or 1


def model_env() -> dict[str, str]:
    """One torch thread per worker process: on 2 cores, two single-threaded YOLOv8n processes
    do ~13 images/s where one process with two threads does ~9 (measured here)."""
    return {
        "BENCH_PYTHON": str(PYTHON),
        "BENCH_MODEL_DIR": str(MODEL),
        "OMP_NUM_THREADS": "1",
        "YOLO_OFFLINE": "1",
        "YOLO_VERBOSE": "False",
        "YOLO_CONFIG_DIR": str(WORK / "ultralytics"),
    }


def children_cpu() -> float:
    """CPU seconds of every finished child process so far: a cross-check on wall-clock rates
    that other work on this shared machine does not move."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def unavailable() -> str | None:
    """Why the model cannot run here, or None."""
    if not PYTHON.exists():
        return f"{PYTHON.parent.parent.name} is missing (`make bench` creates it)"
    done = subprocess.run(
        [str(PYTHON), "-c", "import yolo"],
        cwd=MODEL,
        env={**os.environ, **model_env()},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return "the model does not load: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    return None


def images(count: int, file_count: int) -> Path:
    """data/<bucket>/in/: yolo (all images), yolo-file (the file-mode subset), yolo-poison (all
    images plus one truncated JPEG). Hard links: one copy of each image on disk. Made once per
    size; the results of earlier runs are removed."""
    data = WORK / "data"
    marker = WORK / f".images-{count}-{file_count}"
    if marker.exists():
        for results in data.glob("*/results"):  # runs of an earlier bench: not skip-existing
            shutil.rmtree(results)
        return data
    shutil.rmtree(WORK, ignore_errors=True)
    source = data / "yolo" / "in"
    poison = data / "yolo-poison" / "in" / "img-0100-poison.jpg"
    subprocess.run(
        [str(PYTHON), str(MODEL / "make_images.py"), str(source), str(count), str(poison)],
        check=True,
    )
    for i, path in enumerate(sorted(source.iterdir())):
        for bucket, wanted in (("yolo-file", i < file_count), ("yolo-poison", True)):
            if wanted:
                (data / bucket / "in").mkdir(parents=True, exist_ok=True)
                os.link(path, data / bucket / "in" / path.name)
    marker.touch()
    return data


def run(
    data: Path, name: str, bucket: str, batch_size: int | None, **env: str
) -> tuple[float, float, dict[str, Any], int]:
    """One `oscar-batch run --local`: wall and CPU seconds, its JSON report, and the script
    invocations."""
    counter = WORK / "invocations" / name
    counter.parent.mkdir(parents=True, exist_ok=True)
    counter.unlink(missing_ok=True)
    worker: dict[str, Any] = {"file_timeout": 600}
    if batch_size:
        worker |= {"invoke": "batch", "batch_size": batch_size}
    spec = {
        "name": name,
        "service": {
            "name": "yolo",
            "image": "python:3.11-slim",
            "script": str(MODEL / ("batch.sh" if batch_size else "file.sh")),
            # a core for the model: with the runner's and the mount sidecars' 100m each, one
            # worker on this 2-core machine (it was one per core before the runner had its own
            # container: the model's figures in docs/benchmarks.md were measured so)
            "cpu": "900m",
            "memory": "2Gi",
            "env": {**model_env(), "BENCH_INVOCATIONS": str(counter), **env},
        },
        "input": {"bucket": bucket, "prefix": "in/"},
        "output": {"prefix": "results/"},
        "worker": worker,
        "failure": {"max_failed_ratio": 0.05},
    }
    path = WORK / "specs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=1))  # JSON is YAML
    cpu0, t0 = children_cpu(), time.perf_counter()
    done = subprocess.run(
        [
            str(CLI),
            "run",
            str(path),
            "--local",
            "--data-dir",
            str(data),
            "--run",
            name,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise SystemExit(
            f"{name}: run failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}"
        ) from None
    calls = len(counter.read_text().splitlines()) if counter.exists() else 0
    return wall, cpu, report, calls


def warm(data: Path, bucket: str) -> tuple[float, float, float]:
    """One warm process per core, each loading the model once and looping over its share of the
    files on local disk: wall and CPU seconds (process start and model load included) and the
    slowest loop's seconds (the steady state)."""
    files = sorted(str(p) for p in (data / bucket / "in").iterdir())
    env = {**os.environ, **model_env()}
    cpu0, t0 = children_cpu(), time.perf_counter()
    procs = [
        subprocess.Popen(
            [str(PYTHON), str(MODEL / "warm.py"), *files[i::CORES]],
            cwd=MODEL,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            # as `run --local` starts its workers: with the kernel's autogroup scheduling each
            # session gets its own share of a loaded machine, so this keeps the comparison fair
            start_new_session=True,
        )
        for i in range(CORES)
    ]
    loops = [float(p.communicate()[0]) for p in procs]
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if any(p.returncode for p in procs):
        raise SystemExit("warm loop failed")
    return wall, cpu, max(loops)


def main(argv: list[str]) -> int:
    count, file_count, pairs, batch_size = (
        int(a) for a in [*argv[1:], "300", "40", "3", "100"][:4]
    )
    why = unavailable()
    if why:
        print(f"model benchmark skipped: {why}")
        figure("model benchmark", "skipped", why)
        return 0
    modes = ["file", "batch", "warm"] if "invoke" in Worker.model_fields else ["file", "warm"]
    data = images(count, file_count)
    print(
        f"YOLOv8n, CPU, {count} images of 640 px ({file_count} in file mode), {CORES} workers, "
        f"batch_size {batch_size}; the same rounds, interleaved"
    )
    if "batch" not in modes:
        print("this build has no worker.invoke: batch mode and the bisect cost are not measured")
    rate: dict[str, list[float]] = {m: [] for m in modes}
    cpu_per_file: dict[str, list[float]] = {m: [] for m in modes}
    batch_runs: list[tuple[float, int]] = []
    steady: list[float] = []
    for i in range(pairs):
        for mode in modes:
            if mode == "warm":
                wall, cpu, loop = warm(data, "yolo")
                files, note = count, f"loops alone {loop:.1f} s"
                steady.append(count / loop)
            else:
                batch = batch_size if mode == "batch" else None
                bucket = "yolo" if batch else "yolo-file"
                wall, cpu, report, calls = run(data, f"{mode}-{i}", bucket, batch)
                files, note = report["succeeded"], f"{calls} invocations"
                if batch:
                    batch_runs.append((wall, calls))
            rate[mode].append(files / wall)
            cpu_per_file[mode].append(cpu / files)
            print(
                f"  round {i + 1}: {mode:<5} {files:4d} files in {wall:6.1f} s, "
                f"{cpu / files:.2f} CPU s/file, {note}",
                flush=True,
            )
    med = {m: statistics.median(r) for m, r in rate.items()}
    cpu = {m: statistics.median(c) for m, c in cpu_per_file.items()}
    print(f"median of {pairs} rounds, files/s: " + ", ".join(f"{m} {med[m]:.2f}" for m in modes))
    print("CPU s per file (whole run): " + ", ".join(f"{m} {cpu[m]:.2f}" for m in modes))
    print(
        f"warm loops alone (no process start, no model load): {statistics.median(steady):.2f} files/s"
    )
    figure("YOLOv8n files/s: " + " / ".join(modes), " / ".join(f"{med[m]:.2f}" for m in modes))
    figure(
        "YOLOv8n CPU s per file: " + " / ".join(modes), " / ".join(f"{cpu[m]:.2f}" for m in modes)
    )
    if "batch" not in modes:
        return 0

    def ratio(a: str, b: str) -> float:
        """Median of the rounds' ratios: each pair ran back to back, under the same load."""
        return statistics.median(x / y for x, y in zip(rate[a], rate[b], strict=True))

    print(
        f"batch / file: {ratio('batch', 'file'):.1f}x (by CPU {cpu['file'] / cpu['batch']:.1f}x); "
        f"batch / warm loop: {ratio('batch', 'warm'):.0%} (by CPU {cpu['warm'] / cpu['batch']:.0%})"
    )
    figure("YOLOv8n batch / file, median of the rounds", f"{ratio('batch', 'file'):.1f}x", ">= 10x")
    figure(
        "YOLOv8n batch / warm loop, median of the rounds", f"{ratio('batch', 'warm'):.0%}", ">= 85%"
    )
    figure(
        "YOLOv8n by CPU s per file: file / batch; warm / batch",
        f"{cpu['file'] / cpu['batch']:.1f}x; {cpu['warm'] / cpu['batch']:.0%}",
    )
    clean_wall = statistics.median(w for w, _ in batch_runs)
    clean_calls = statistics.median(c for _, c in batch_runs)
    bisect(data, batch_size, clean_wall, clean_calls)
    return 0


def bisect(data: Path, batch_size: int, clean_wall: float, clean_calls: float) -> None:
    """The batch run again with one truncated JPEG among the images: with a script that exits on
    it (the runner must isolate it by re-running smaller batches) and with one that reports it
    on the status file. Extra invocations and seconds are against the clean batch runs."""
    bound = math.ceil(math.log2(batch_size)) + 1
    for on_error, does in (("exit", "exits"), ("status", "reports it")):
        wall, _, report, calls = run(
            data, f"poison-{on_error}", "yolo-poison", batch_size, BENCH_ON_ERROR=on_error
        )
        extra, seconds = calls - clean_calls, wall - clean_wall
        print(
            f"one poison image, the script {does}: {report['succeeded']} ok, {report['failed']} "
            f"failed, {calls} invocations ({extra:+.0f}; bound {bound}), {wall:.1f} s ({seconds:+.1f} s)"
        )
        figure(
            f"bisect cost, 1 poison image, script {does}",
            f"{extra:+.0f} invocations, {seconds:+.1f} s",
            f"<= +{bound} invocations" if on_error == "exit" else "",
        )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
