"""run --local's cost per pod: K trivial pods in a row (parallelism 1: a container `true` and a
sidecar `sleep`), minus the same workflow with one pod; that is what each pod start and stop
costs (namespaces, roots, devices, the containers' inits), apart from run --local's fixed cost.

Usage: python bench/bench_pods.py [K]     (the `oscar-batch` beside this Python is measured)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure

WORKFLOW = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: pods-}}
spec:
  entrypoint: main
  parallelism: 1
  templates:
  - name: main
    dag:
      tasks:
      - {{name: each, template: pod, withParam: '{items}'}}
  - name: pod
    container: {{image: alpine, command: ['true']}}
    sidecars:
    - {{name: side, image: alpine, command: [sleep, '30']}}
"""


def seconds(pods: int, folder: Path) -> float:
    path = folder / f"pods-{pods}.yaml"
    path.write_text(WORKFLOW.format(items=str(list(range(pods)))))
    exe = Path(sys.executable).parent / "oscar-batch"
    t0 = time.perf_counter()
    subprocess.run(
        [str(exe), "run", str(path), "--local", "--data-dir", str(folder / "data"), "-o", "json"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    k = int(argv[0]) if argv else 10
    with tempfile.TemporaryDirectory() as tmp:
        one = seconds(1, Path(tmp))
        many = seconds(1 + k, Path(tmp))
    per_pod = (many - one) / k
    print(f"1 pod: {one:.2f} s; {1 + k} pods: {many:.2f} s")
    figure("run --local: one pod's start and stop (main + sidecar)", f"{per_pod * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
