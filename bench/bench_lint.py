"""Lint: one `oscar-batch lint FOLDER` call over 200 workflow files (Argo's examples, the first
200 in path order), cold process, target under 3 s: its wall and CPU seconds, the CPU seconds
of `oscar-batch --help` (the CLI's imports: Hera for the other commands), and the same lint
in-process. The machine is shared: CPU seconds are the steadier figure.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, figure
from generator import lint

EXAMPLES = ROOT / "tests" / "data" / "argo" / "examples"
COUNT = 200


def main() -> int:
    folder = Path(tempfile.mkdtemp()) / "workflows"
    for i, f in enumerate(sorted(EXAMPLES.rglob("*.yaml"))[:COUNT]):
        target = folder / f"{i:03d}-{f.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    exe = shutil.which("oscar-batch", path=str(Path(sys.executable).parent)) or "oscar-batch"
    cold, cpu, help_cpu = [], [], []
    for _ in range(5):
        for argv, cpus in (([exe, "lint", str(folder)], cpu), ([exe, "--help"], help_cpu)):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            # exit 1 is a finding (Argo's k8s-patch-json example has a duplicate key), not a failure
            if subprocess.run(argv, capture_output=True).returncode not in (0, 1):
                raise SystemExit(f"{argv} failed")
            if cpus is cpu:
                cold.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        report = lint.lint_paths([folder])
        warm.append(time.perf_counter() - t0)
    docs = report.documents
    print(f"{COUNT} files, {docs} workflow documents, {len(report.errors)} errors")
    print(
        f"cold `oscar-batch lint FOLDER`: wall median {statistics.median(cold):.2f} s"
        f" (best {min(cold):.2f}), CPU median {statistics.median(cpu):.2f} s;"
        f" of which the CLI's imports (`--help`) {statistics.median(help_cpu):.2f} s CPU"
    )
    print(f"in-process lint_paths: median {statistics.median(warm):.2f} s, best {min(warm):.2f} s")
    figure(f"lint {COUNT} files, one call (s)", f"{statistics.median(cold):.2f}", "< 3 s")
    shutil.rmtree(folder.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
