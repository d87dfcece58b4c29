"""The aggregate (with and without the merge) and `compare`, at scale against the real S3 server:
wall time and peak memory in a child process, interleaved with the floor: a bare listing of
the run's results/ and a GET of every result object (16 threads), nothing parsed.

Runs are written straight into the server's folder (plan, index, results in format 3: one
object per group of GROUP files, as the runners leave them; one det.json of two records per
succeeded file with its sha256 in the result, and its records in counts.tsv as the aggregate
counts them); run B differs from run A in every tenth
file's output. Half the files of the aggregate-only run fail with a 2,000-byte log tail.

Usage: python bench/bench_runs.py [N ...] [--pairs P] [--only JOB] [--vs DIR]  (default: 100000
500000, 3 pairs; above 200,000 files only the half-failed aggregate runs)
  --vs DIR  also measure another checkout's code (e.g. `git archive REV | tar -x -C DIR`), its
            runs interleaved with this one's and the floor's
Targets (issue 21): the half-failed aggregate of 500k files under 60 s, memory flat in N;
`compare` of two 100k-file runs under 30 s.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure, measure
from generator.bucket import identity, layout, results
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
# the floor of reading a run's results: one listing, one GET per object, nothing parsed
FLOOR = """
from generator.bucket import layout
from generator.clients import s3 as st
runs = RUN.split(",")
got = 0
for run in runs:
    where = layout.RunLayout.of(s, run)
    keys = [k for k, _ in st.list_objects(c, "bench", where.results)]
    got += sum(len(d) for d in st.ordered_map(lambda k: st.get_bytes(c, "bench", k), keys))
out = {"bytes": got}
"""
GROUP = 32


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
    ident = identity.of(s).fingerprint
    counted: set[str] = set()  # the aggregate's counts.tsv: records per output content
    tail = "x" * 1990
    groups: dict[str, list[results.Record]] = {}
    for i, key in enumerate(keys):
        shard = f"{i % 100:04d}"
        fid = layout.file_id(key)
        group = groups.setdefault(shard, [])
        if fail_every and i % fail_every == 0:
            group.append(
                results.Record(
                    fid, False, 1, 0.5, 0, f"s-{i // GROUP}", reason="failed", error=tail
                )
            )
        elif fail_every:
            group.append(results.Record(fid, True, 0, 0.5, 0, f"s-{i // GROUP}", hashes=()))
        else:
            out = base / "outputs" / key[len("in/") :]
            out.mkdir(parents=True, exist_ok=True)
            label = "crab" if differ and i % 10 == 0 else "fish"
            data = f'[{{"l": "{label}"}}, {{"l": "eel"}}]'.encode()
            _write(out / "det.json", data)
            digest = hashlib.sha256(data).hexdigest()
            counted.add(digest)
            group.append(
                results.Record(
                    fid, True, 0, 0.5, 1, f"s-{i // GROUP}", hashes=(("det.json", digest),)
                )
            )
        if len(group) == GROUP or i == n - 1:
            folder = base / "results" / shard
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{i:08d}.results"
            _write(folder / name, results.encode(shard, ident, group))
            group.clear()
    for shard, group in groups.items():
        if group:
            _write(
                base / "results" / shard / f"last-{shard}.results",
                results.encode(shard, ident, group),
            )
    if counted:
        (base / "counts.tsv").write_text("".join(f"{d}\t2\tdet.json\n" for d in sorted(counted)))
    marker.touch()


def main(argv: list[str]) -> int:
    pairs = int(argv[argv.index("--pairs") + 1]) if "--pairs" in argv else 3
    only = argv[argv.index("--only") + 1] if "--only" in argv else ""
    other = Path(argv[argv.index("--vs") + 1]).resolve() if "--vs" in argv else None
    args = [
        a
        for n, a in enumerate(argv[1:], 1)
        if not a.startswith("--") and argv[n - 1] not in ("--pairs", "--only", "--vs")
    ]
    # each variant's code first on the child's path (a child of `python -c` has its cwd there)
    variants = [("", Path(__file__).resolve().parent.parent)]
    if other is not None:
        variants.append((f" ({other.name})", other))
    sizes = [int(a) for a in args] or [100_000, 500_000]
    base = Path(tempfile.gettempdir()) / "oscar-batch-bench-runs"
    spec_dir = Path(tempfile.mkdtemp())
    (spec_dir / "s.sh").write_text("true\n")
    (spec_dir / "batch.yaml").write_text(SPEC)
    s = spec.load(spec_dir / "batch.yaml")
    print("files | job | seconds | floor seconds | job / floor | peak MB | above baseline MB")
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
                ("compare", COMPARE, "RUN='a,b'; OVERRIDES=[]"),
                ("aggregate + merge", AGGREGATE, "RUN='a'; OVERRIDES=[]"),
            ]
            for name, code, extra in jobs if full else jobs[:1]:
                if only not in name:
                    continue
                setups = {
                    label: f"import sys; sys.path.insert(0, {str(at)!r})\n"
                    + f"{consts}{extra}\n{SETUP}"
                    for label, at in variants
                }
                got: dict[str, list[dict[str, float]]] = {label: [] for label in setups}
                floor = []
                for _ in range(pairs):  # interleaved: job, [other job,] floor, job, ...
                    for label, setup in setups.items():
                        got[label].append(measure(code, setup))
                    floor.append(measure(FLOOR, setups[""]))
                floor_s = statistics.median(f["seconds"] for f in floor)
                for label, measured in got.items():
                    assert all(g["files"] == n for g in measured), measured
                    seconds = statistics.median(g["seconds"] for g in measured)
                    ratio = statistics.median(
                        g["seconds"] / f["seconds"] for g, f in zip(measured, floor, strict=True)
                    )
                    peak = max(g["peak_rss"] for g in measured) / 2**20
                    each = [round((g["peak_rss"] - g["base_rss"]) / 2**20) for g in measured]
                    above = max(each)
                    extra_out = {
                        k: v
                        for k, v in measured[0].items()
                        if k not in ("seconds", "peak_rss", "base_rss")
                    }
                    print(
                        f"{n} | {name}{label} | {seconds:.1f} | {floor_s:.1f} | {ratio:.2f}x"
                        f" | {peak:.0f} | {above:.0f} (each {each})   {json.dumps(extra_out)}",
                        flush=True,
                    )
                    target = {
                        "aggregate, half failed, no merge": "< 60 s at 500k, memory flat in N",
                        "compare": "< 30 s",
                    }
                    figure(
                        f"{name}{label}, {n:,} files (median of {pairs}; x floor: list + GET of"
                        " results)",
                        f"{seconds:.0f} s ({ratio:.2f}x), {above:.0f} MB above baseline",
                        target.get(name, "") if not label else "",
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
