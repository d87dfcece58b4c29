"""End to end, local: N small images through `run --local` with a service that only reads its
input (`cat > /dev/null`), next to the raw read rate of the same S3 server on this machine:
parallel GETs with the minio client, and reads through the rclone mount.

Usage: python bench/bench_e2e.py [N]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure, populate
from generator.build import sidecar
from generator.clients import s3 as storage
from generator.local import rclone


def raw_gets(ep: rclone.S3Server, bucket: str, threads: int) -> float:
    client = storage.make_client(ep.endpoint, ep.access_key, ep.secret_key)
    keys = [k for k, _ in storage.list_objects(client, bucket, "in/")]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda k: storage.get_bytes(client, bucket, k), keys))
    return len(keys) / (time.perf_counter() - t0)


def mounted(ep: rclone.S3Server, bucket: str, mnt: Path) -> AbstractContextManager[Path]:
    env = sidecar.keyed_env(ep.endpoint, ep.access_key, ep.secret_key)
    return rclone.mount(bucket, mnt / bucket, {**env, **rclone.EMBEDDED_SERVER_ENV})


def raw_mount(ep: rclone.S3Server, bucket: str, mnt: Path, readers: int) -> float:
    with mounted(ep, bucket, mnt) as point:
        files = [p for p in (point / "in").rglob("*.jpg")]
        t0 = time.perf_counter()

        def read(p: Path) -> int:
            return len(p.read_bytes())

        with ThreadPoolExecutor(readers) as pool:
            list(pool.map(read, files))
        return len(files) / (time.perf_counter() - t0)


def shell_cat(ep: rclone.S3Server, bucket: str, mnt: Path, loops: int) -> float:
    """The floor for one process per file: `sh -c 'cat FILE'` in shell loops through the mount."""
    with mounted(ep, bucket, mnt) as point:
        files = sorted(str(p) for p in (point / "in").rglob("*.jpg"))
        lists = [files[i::loops] for i in range(loops)]
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    "sh",
                    "-c",
                    'for f in "$@"; do sh -c \'cat "$1" > /dev/null\' sh "$f"; done',
                    "sh",
                    *part,
                ]
            )
            for part in lists
        ]
        for p in procs:
            p.wait()
        return len(files) / (time.perf_counter() - t0)


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 5000
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    data = work / "data"
    populate(data / "imgs" / "in", n, size=2048)
    with rclone.serve_s3(data) as ep:
        gets = raw_gets(ep, "imgs", 16)
        mount1 = raw_mount(ep, "imgs", work / "m1", 1)
        mount8 = raw_mount(ep, "imgs", work / "m8", 8)
        loops = shell_cat(ep, "imgs", work / "sh", os.cpu_count() or 2)
    (work / "spec").mkdir()
    (work / "spec" / "cat.sh").write_text('cat "$INPUT_FILE_PATH" > /dev/null\n')
    # cpu 400m + the runner's and the mount sidecars' 100m each: the planner gives one worker
    # per core of this machine, as the floor runs one loop per core
    (work / "spec" / "batch.yaml").write_text(
        "name: bench\nservice: {name: cat, image: alpine, script: cat.sh, cpu: 400m, memory: 64Mi}\n"
        "input: {bucket: imgs, prefix: in/}\n"
    )
    t0 = time.perf_counter()
    exe = Path(sys.executable).parent / "oscar-batch"
    done = subprocess.run(
        [str(exe), "run", str(work / "spec" / "batch.yaml"), "--local", "--data-dir", str(data),
         "--run", "bench", "-o", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    report = json.loads(done.stdout)
    rate = report["succeeded"] / wall
    workers = len(list((data / ".oscar-batch-logs" / "bench").glob("*-worker-*-main.log")))
    # per worker: wall / files per worker = time per file; minus the script's own time (cat)
    per_file_ms = wall / (report["succeeded"] / workers) * 1000
    script_ms = report["file_seconds"]["mean"] * 1000
    print(
        f"e2e {n} files, {workers} workers: {rate:.0f} files/s ({wall:.1f} s wall incl. start/plan/aggregate)"
    )
    print(
        f"  per file per worker {per_file_ms:.1f} ms, of which the script {script_ms:.1f} ms: runner fixed cost {per_file_ms - script_ms:.1f} ms"
    )
    print(
        f"raw: minio GET x16 {gets:.0f} files/s; mount reads x1 {mount1:.0f}, x8 {mount8:.0f} files/s"
    )
    print(
        f"one process per file floor: shell loops running cat through the mount {loops:.0f} files/s"
    )
    best = max(mount1, mount8)
    print(
        f"e2e / best raw mount rate: {rate / best:.0%} (target >= 70%); e2e / shell-loop floor: {rate / loops:.0%}"
    )
    figure("e2e run --local (files/s)", f"{rate:.0f}")
    figure("raw reads: minio GET x16 / mount x8 (files/s)", f"{gets:.0f} / {mount8:.0f}")
    figure("shell loop running cat through the mount (files/s)", f"{loops:.0f}")
    figure("e2e / raw mount reads", f"{rate / best:.0%}", ">= 70%")
    figure("e2e / shell-loop floor", f"{rate / loops:.0%}")
    figure("runner fixed cost per file (ms)", f"{per_file_ms - script_ms:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
