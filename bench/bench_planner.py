"""Planner at scale against the real S3 server: list + filter + shard + write manifests, wall time
and peak memory, next to the bare minio client listing the same keys (the limit).

Usage: python bench/bench_planner.py [N ...]   (default: 100000 1000000)
Targets: within 1.3x of the bare listing; under 300 bytes of memory per key.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure, measure, populate
from generator.local import rclone

SETUP = """
from pathlib import Path
from generator.clients import kube as cluster
from generator.stages import plan as planner
from generator.spec import model as spec
from generator.clients import s3 as storage
c = storage.make_client(EP, AK, SK)
c.bucket_exists("bench")
"""
BARE = """
n = sum(1 for _ in c.list_objects("bench", prefix="in/", recursive=True))
out = {"keys": n}
"""

OURS = """
s = spec.load(Path(SPEC))
big = cluster.ClusterState([{"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "1000"}, "conditions": [{"type": "Ready", "status": "True"}]}}], [], "bench")
plan = planner.run_plan(c, s, RUN, big)
out = {"keys": plan.files, "workers": plan.workers}
"""


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv[1:]] or [100_000, 1_000_000]
    base = Path(tempfile.gettempdir()) / "oscar-batch-bench-planner"
    spec_dir = Path(tempfile.mkdtemp())
    (spec_dir / "s.sh").write_text("true\n")
    (spec_dir / "batch.yaml").write_text(
        "name: bench\nservice: {name: s, image: a, script: s.sh}\n"
        "input: {bucket: bench, prefix: in/, include: ['*.jpg']}\n"
        "planning: {max_workers: 100}\nworker: {skip_existing: false}\n"
    )
    print(
        "keys | bare listing s | ours s | ratio | ours peak MB | bytes/key (above baseline) | bare peak MB"
    )
    for n in sizes:
        data = base / str(n)
        populate(data / "bench" / "in", n)
        with rclone.serve_s3(data) as ep:
            consts = f"EP={ep.endpoint!r}; AK={ep.access_key!r}; SK={ep.secret_key!r}; SPEC={str(spec_dir / 'batch.yaml')!r}; RUN='r{n}'\n"
            # the bare listing runs before and after ours: the faster of the two is the limit
            first = measure(BARE, consts + SETUP)
            ours = measure(OURS, consts + SETUP)
            bare = min(first, measure(BARE, consts + SETUP), key=lambda r: r["seconds"])
        assert bare["keys"] == ours["keys"] == n, (bare, ours)
        per_key = (ours["peak_rss"] - ours["base_rss"]) / n
        figure(
            f"planner {n:,} keys: time vs bare listing",
            f"{ours['seconds']:.1f} s vs {bare['seconds']:.1f} s ({ours['seconds'] / bare['seconds']:.2f}x)",
            "<= 1.3x",
        )
        figure(f"planner {n:,} keys: memory per key", f"{per_key:.0f} B", "< 300 B")
        print(
            f"{n} | {bare['seconds']:.1f} | {ours['seconds']:.1f} | {ours['seconds'] / bare['seconds']:.2f}x"
            f" | {ours['peak_rss'] / 2**20:.0f} | {per_key:.0f} | {bare['peak_rss'] / 2**20:.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
