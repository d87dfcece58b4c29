"""Helpers the benchmarks share: a populated rclone S3 server, child-process timing and peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def populate(folder: Path, count: int, size: int = 64, per_dir: int = 1000) -> None:
    """COUNT files of SIZE bytes under folder/, PER_DIR per sub-folder (skips what exists)."""
    payload = b"x" * size
    marker = folder.parent / f".{folder.name}-populated-{count}"
    if marker.exists():
        return
    for i in range(count):
        d = folder / f"d{i // per_dir:05d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        fd = os.open(d / f"img-{i:07d}.jpg", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, payload)
        os.close(fd)
    marker.touch()


def measure(code: str, setup: str = "", env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run python SETUP then CODE in a child; CODE sets `out`, a dict. Adds CODE's wall seconds,
    the peak RSS (bytes) and the RSS after SETUP (imports, clients), the baseline to subtract."""
    wrapper = (
        "import json, resource, sys, time\n"
        f"{setup}\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t0 = time.perf_counter()\n"
        f"{code}\n"
        "out['seconds'] = time.perf_counter() - t0\n"
        "out['peak_rss'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "out['base_rss'] = base * 1024\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def best_of(n: int, argv: list[str]) -> float:
    """Fastest wall time of N runs of a command (cold start: a new process each time)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return min(times)


FIGURE = "@figure|"


def figure(name: str, value: str, target: str = "") -> None:
    """A headline figure; `make bench` (run_all.py) gathers these into its closing table."""
    print(f"{FIGURE}{name}|{value}|{target}", flush=True)
