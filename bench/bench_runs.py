"""The aggregate (with and without the merge) and `compare`, at scale against the real S3 server:
wall time and peak memory in a child process.

Runs are written straight into the server's folder (plan, index, results, one det.json of
two records per succeeded file), as the plan and the runners would leave them; run B
differs from run A in every tenth file's output. Half the files of the aggregate-only run
fail with a 2,000-byte log tail, the shape that cost 10 KB per failure before (issue 15.8).

Usage: python bench/bench_runs.py [N ...]   (default: 100000 1000000; above 200,000 files only
the half-failed aggregate runs, the memory proof of issue 15.8)
Targets: peak memory above the baseline flat in N (not ~10 KB per failed file).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure, measure
from generator.bucket import identity, layout
from generator.local import rclone
from generator.spec import model as spec

SPEC = (
    "name: bench\nservice: {name: s, image: det:v1, script: s.sh}\n"
    "input: {bucket: bench, prefix: in/}\nfailure: {max_failed_ratio: 1}\n"
)
SETUP = """
from pathlib import Path
from generator.stages import aggregate
from generator.bucket import compare
from generator.spec import model as spec
from generator.clients import s3 as storage
from generator.bucket.reader import S3Store
c = storage.make_client(EP, AK, SK)
c.bucket_exists("bench")
s = spec.load(Path(SPEC_PATH), OVERRIDES)
"""
AGGREGATE = """
r = aggregate.run_aggregate(c, s, RUN)
out = {"files": r["planned"], "failed": r["failed"], "records": (r["merged"] or {}).get("records")}
"""
COMPARE = """
store = S3Store(c, "bench")
a, b = compare.Side.open(store, s, "a"), compare.Side.open(store, s, "b")
res = compare.summarise(compare.compare(a, b))
out = {"files": res["summary"]["files"], "differ": res["summary"]["differ"]}
"""


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)


def stage(
    root: Path, s: spec.BatchSpec, run: str, n: int, *, fail_every: int, differ: bool
) -> None:
    """A finished run of N files in the server's folder (skipped when already there)."""
    where = layout.RunLayout.of(s, run)
    base = root / "bench" / where.root
    marker = base / f".staged-{n}"
    if marker.exists():
        return
    keys = [f"in/d{i // 1000:04d}/img-{i:07d}.jpg" for i in range(n)]
    base.mkdir(parents=True, exist_ok=True)
    with (base / "index.tsv").open("w") as index:
        for key in sorted(keys):
            index.write(f"{layout.file_id(key)}\t1000\t{key}\n")
    plan = {
        "run": run,
        "workers": 100,
        "spec": s.name,
        "identity": identity.of(s).record(),
        "created": time.time(),
    }
    (base / "plan.json").write_text(json.dumps(plan))
    tail = "x" * 1990
    for i, key in enumerate(keys):
        shard = f"{i % 100:04d}"
        folder = base / "results" / shard
        if i < 100:
            folder.mkdir(parents=True, exist_ok=True)
        fid = layout.file_id(key)
        if fail_every and i % fail_every == 0:
            text = f"exit_code 1\nseconds 0.5\noutputs 0\nreason failed\n--\n{tail}\n"
            _write(folder / f"{fid}.fail", text.encode())
            continue
        outputs = 0 if fail_every else 1
        _write(folder / f"{fid}.ok", f"exit_code 0\nseconds 0.5\noutputs {outputs}\n".encode())
        if outputs:
            out = base / "outputs" / key[len("in/") :]
            out.mkdir(parents=True, exist_ok=True)
            label = "crab" if differ and i % 10 == 0 else "fish"
            _write(out / "det.json", f'[{{"l": "{label}"}}, {{"l": "eel"}}]'.encode())
    marker.touch()


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv[1:]] or [100_000, 1_000_000]
    base = Path(tempfile.gettempdir()) / "oscar-batch-bench-runs"
    spec_dir = Path(tempfile.mkdtemp())
    (spec_dir / "s.sh").write_text("true\n")
    (spec_dir / "batch.yaml").write_text(SPEC)
    s = spec.load(spec_dir / "batch.yaml")
    print("files | job | seconds | files/s | peak MB | above baseline MB")
    for n in sizes:
        root = base / str(n)
        full = n <= 200_000
        runs = [("a", 0, False), ("b", 0, True)] if full else []
        for run, fail_every, differ in [*runs, ("half-failed", 2, False)]:
            # staged in a child: a measured child's ru_maxrss would start at this process's
            child = multiprocessing.Process(
                target=stage,
                args=(root, s, run, n),
                kwargs={"fail_every": fail_every, "differ": differ},
            )
            child.start()
            child.join()
        with rclone.serve_s3(root) as ep:
            consts = (
                f"EP={ep.endpoint!r}; AK={ep.access_key!r}; SK={ep.secret_key!r};"
                f" SPEC_PATH={str(spec_dir / 'batch.yaml')!r}\n"
            )
            jobs = [
                (
                    "aggregate, half failed, no merge",
                    AGGREGATE,
                    "RUN='half-failed'; OVERRIDES=['output.merge=[]']",
                ),
                ("aggregate + merge", AGGREGATE, "RUN='a'; OVERRIDES=[]"),
                ("compare", COMPARE, "OVERRIDES=[]"),
            ]
            for name, code, extra in jobs if full else jobs[:1]:
                got = measure(code, consts + extra + "\n" + SETUP)
                assert got["files"] == n, got
                above = (got["peak_rss"] - got["base_rss"]) / 2**20
                rate = n / got["seconds"]
                print(
                    f"{n} | {name} | {got['seconds']:.1f} | {rate:.0f} | {got['peak_rss'] / 2**20:.0f}"
                    f" | {above:.0f}   {json.dumps({k: v for k, v in got.items() if k not in ('seconds', 'peak_rss', 'base_rss')})}",
                    flush=True,
                )
                figure(
                    f"{name}, {n:,} files", f"{got['seconds']:.0f} s, {above:.0f} MB above baseline"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
