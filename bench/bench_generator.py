"""Generator: cold start of `oscar-batch generate` and `lint` (target under 1.5 s), and the size
of what Argo stores for 1k, 100k and 1M files: the workflow YAML and the plan's output
parameter (shard ids only: file lists stay in the bucket), which must not grow with the files.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, best_of, figure
from generator.build import workflow
from generator.clients import kube as cluster
from generator.spec import model as spec
from generator.stages import plan as planner

SPEC = ROOT / "examples" / "fish-detector" / "batch.yaml"


def main() -> int:
    exe = shutil.which("oscar-batch", path=str(Path(sys.executable).parent)) or "oscar-batch"
    out = Path(tempfile.mkdtemp()) / "wf.yaml"
    gen = best_of(3, [exe, "generate", str(SPEC), "--out-dir", str(out.parent)])
    lint = best_of(3, [exe, "lint", str(out.parent / "obsea-fish.yaml")])
    print(f"cold start (best of 3): generate {gen:.2f} s, lint {lint:.2f} s (target < 1.5 s)")
    figure("cold start generate / lint (s)", f"{gen:.2f} / {lint:.2f}", "< 1.5 s")
    s = spec.load(SPEC)
    big = cluster.ClusterState([{"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "1000"},
                                 "conditions": [{"type": "Ready", "status": "True"}]}}], [], "bench")  # fmt: skip
    yaml_size = len(workflow.to_yaml(s).encode())
    print("files | workflow YAML bytes | plan output parameter bytes | workers")
    for n in (1_000, 100_000, 1_000_000):
        objects = ((f"input/{i:07d}.jpg", 1000) for i in range(n))
        plan = planner.run_plan(None, s, "r", big, objects, write=False)
        param = len(json.dumps([sh.id for sh in plan.shards]).encode())
        print(f"{n} | {yaml_size} | {param} | {plan.workers}")
        figure(
            f"stored for {n:,} files: workflow YAML / plan output (bytes)",
            f"{yaml_size} / {param}",
            "constant",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
