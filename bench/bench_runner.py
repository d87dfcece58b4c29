"""The runner's own cost per file, next to the floor: a shell loop doing the same per-file work
through the same mounts (run the script on the mounted input, copy its outputs into the run
folder through the read-write mount), with no bookkeeping at all.

The real parts: `rclone serve s3` and the two `rclone mount`s of a worker pod (read-only input,
read-write run folder). The service reads its input and writes one output (`cat`). Variants
run interleaved (floor, runner, floor, runner, ...), PAIRS times, each on a fresh run of N
files and on a fresh run of one batch (batch_size files, 32 unless --batch-size says); CPU is
that of the runner's whole process tree (rusage of the waited child), with the service
dispatcher's (the pod's service container, which runs the script) added, and separately that of
the rclone processes (mounts and server), which do the S3 requests. Two ratios to the floor: the N-file run's CPU over N, and the marginal CPU
per file, the slope between the two runs (what one more file costs, a pod's fixed start and end
aside: its mounts awaited, its plan read, the dispatcher's start; bench_local and
bench_projection count those per run).

Usage: python bench/bench_runner.py [N] [PAIRS] [--vs TEMPLATE ...] [--mode file|batch]
                                   [--batch-size B]
  --vs TEMPLATE  also measure another runner template, named by its folder (repeatable; e.g.
                 an older version's templates/runner.sh.j2 from `git archive REV templates`);
                 with a service.sh.j2 beside it, the script runs in that dispatcher
Targets (issue 21): CPU per file <= 1.5x the floor in `file` mode, <= 1.1x in `batch` mode,
read on the marginal ratio (both are printed).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure, populate
from generator.build import runner_script, sidecar, workerpod
from generator.clients import kube
from generator.clients import s3 as storage
from generator.local import rclone
from generator.spec import model as spec_mod
from generator.stages import plan as planner

FILE_SCRIPT = 'cat "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/copy"\n'
BATCH_SCRIPT = r"""TAB=$(printf '\t')
while IFS= read -r line; do
  cat "${line%"$TAB"*}" > "${line##*"$TAB"}/copy"
done <"$INPUT_FILE_LIST"
"""
# The floor: per file what the runner must do at the least, as a bare loop, done the cheapest
# way the runner knows (so the ratio is the runner's bookkeeping alone): the input copied by
# `cat >`, an output folder stored by one `cp -R dir/. dest/` (`mkdir -p` only when dest's
# parent is new: cp makes dest). Per batch in batch mode: the list, one `mkdir` of the
# output folders, one script run, then each file's outputs. A failure ends it (exit 1): a
# floor that stored nothing must not pass for a fast one.
FLOOR_FILE = r"""set -u
TAB=$(printf '\t')
n=0
while IFS= read -r line; do
  rel=${line#*"$TAB"*"$TAB"}
  n=$((n + 1))
  # the folders of 32 files at a time, as the dispatcher makes them
  if [ $(((n - 1) % 32)) -eq 0 ]; then
    set --
    i=$n
    while [ "$i" -lt $((n + 32)) ]; do
      set -- "$@" "$W/$i" "$W/$i.in"
      i=$((i + 1))
    done
    mkdir "$@"
  fi
  # worker.input copy (OSCAR's way, the default): the script gets its own copy of the input
  input="$IN/$rel"
  if [ "$INPUT_MODE" = copy ]; then cat "$input" >"$W/$n.in/${rel##*/}" && input="$W/$n.in/${rel##*/}"; fi
  INPUT_FILE_PATH="$input" TMP_OUTPUT_DIR="$W/$n" sh "$SCRIPT" </dev/null >"$W/log" 2>&1 || exit 1
  dest="$RUN/outputs/$rel"
  { [ -d "${dest%/*}" ] || mkdir -p "$dest"; } && cp -R "$W/$n/." "$dest/" || exit 1
done <"$MANIFEST"
"""
FLOOR_BATCH = r"""set -u
TAB=$(printf '\t')
b=0
run_batch() {
  mkdir "$W/$b" "$@"
  INPUT_FILE_LIST="$W/$b.list" sh "$SCRIPT" </dev/null >"$W/log" 2>&1 || exit 1
  j=0
  while IFS= read -r rel; do
    j=$((j + 1))
    dest="$RUN/outputs/$rel"
    { [ -d "${dest%/*}" ] || mkdir -p "$dest"; } && cp -R "$W/$b/$j/." "$dest/" || exit 1
  done <"$W/$b.rels"
}
i=0
while IFS= read -r line; do
  rel=${line#*"$TAB"*"$TAB"}
  if [ "$i" -eq 0 ]; then b=$((b + 1)); set --; fi
  i=$((i + 1))
  set -- "$@" "$W/$b/$i"
  printf '%s\t%s\n' "$IN/$rel" "$W/$b/$i" >>"$W/$b.list"
  printf '%s\n' "$rel" >>"$W/$b.rels"
  if [ "$i" -eq "$SIZE" ]; then run_batch "$@"; i=0; fi
done <"$MANIFEST"
if [ "$i" -gt 0 ]; then run_batch "$@"; fi
"""
# one node: with max_workers 1 the plan makes one shard
NODE = {"cpu": "8", "memory": "64Gi", "pods": "100"}
ONE_NODE = kube.ClusterState(
    [
        {
            "metadata": {"name": "n"},
            "status": {"allocatable": NODE, "conditions": [{"type": "Ready", "status": "True"}]},
        }
    ],
    [],
    "bench",
)


def _cpu(pid: int) -> float:
    """utime + stime of a live process, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rclone_cpu() -> float:
    """CPU seconds of this process's rclone children (the server and the mounts) so far."""
    total = 0.0
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"rclone" in Path(f"/proc/{child}/cmdline").read_bytes():
                    total += _cpu(int(child))
            except OSError:
                continue
    return total


@contextmanager
def worker_mounts(ep: rclone.S3Server, bucket: str, root: Path, run: str) -> Iterator[None]:
    """The bucket mounted as a worker pod of `run` mounts it (workerpod.mounts): the input
    read-only, the run's folder read-write."""
    env = {**sidecar.keyed_env(ep.endpoint, ep.access_key, ep.secret_key)}
    env.update(rclone.EMBEDDED_SERVER_ENV)
    with (
        rclone.mount(bucket, root / bucket, env, read_only=True),
        rclone.mount(f"{bucket}/oscar-batch/{run}", root / workerpod.WRITE_ROOT / bucket, env),
    ):
        yield


def run_once(
    variant: str,
    runner: str | None,
    s: spec_mod.BatchSpec,
    run: str,
    root: Path,
    service: str | None = None,
) -> tuple[float, float, float]:
    """(wall, tree CPU, rclone CPU) seconds of one variant over a fresh run (planned before
    the bucket was mounted, as in a pod). With `service` (the dispatcher's text), the script
    runs in it as in the pod's service container, and the tree CPU is both processes'."""
    shard_id = "0000"
    work = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    script = work / "script.sh"
    script.write_text(s.service.script)
    env = {
        **os.environ,
        **runner_script.environment(
            s, mnt_root=str(root), run=run, shard=shard_id, script=str(script)
        ),
        "TMPDIR": str(work),
    }
    if runner is None:
        body = FLOOR_FILE if s.worker.invoke == "file" else FLOOR_BATCH
        run_dir = env["OSCAR_BATCH_RUN_DIR"]
        (work / "w").mkdir()
        env.update(
            W=str(work / "w"),
            IN=env["OSCAR_BATCH_INPUT_DIR"],
            RUN=run_dir,
            SCRIPT=str(script),
            SIZE=str(s.worker.batch_size),
            INPUT_MODE=s.worker.input,
            MANIFEST=str(work / "manifest"),
        )
        # the floor reads its manifest from local disk; the runner reads it through the mount
        (work / "manifest").write_text((Path(run_dir) / "shards" / f"{shard_id}.tsv").read_text())
        argv = ["sh", "-c", body]
    else:
        (work / "runner.sh").write_text(runner)
        argv = ["sh", str(work / "runner.sh")]
    started: list[subprocess.Popen[bytes]] = []
    before = rclone_cpu()
    t0 = time.perf_counter()
    if service is not None:
        folders = {name: work / name for name in ("ctl", "work", "config")}
        for folder in folders.values():
            folder.mkdir()
        shared = {"OSCAR_BATCH_CTL": str(folders["ctl"]), "OSCAR_BATCH_WORK": str(folders["work"])}
        env.update(shared, OSCAR_BATCH_CONFIG=str(folders["config"]))
        (work / "service.sh").write_text(service)
        service_env = {
            **os.environ,
            **runner_script.service_environment(s, shard=shard_id),
            **shared,
            "OSCAR_BATCH_SCRIPT": str(folders["config"] / "script.sh"),
        }
        started.append(subprocess.Popen(["sh", str(work / "service.sh")], env=service_env))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cpu = 0.0
    for p in [proc, *started]:
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        if p is proc:
            wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} failed: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    time.sleep(0.5)  # the mounts' last uploads
    return wall, cpu, rclone_cpu() - before


def main(argv: list[str]) -> int:
    options = {a: argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--mode", "--batch-size")}
    others = [Path(argv[i + 1]) for i, a in enumerate(argv[:-1]) if a == "--vs"]
    # positional: what no option names or takes as its value
    taken = {i + 1 for i, a in enumerate(argv[:-1]) if a in ("--mode", "--batch-size", "--vs")}
    args = [a for i, a in enumerate(argv) if i > 0 and i not in taken and not a.startswith("--")]
    modes = [options["--mode"]] if "--mode" in options else ["file", "batch"]
    # the small run is one batch (in file mode, one commit's files)
    small = int(options.get("--batch-size", 32))
    n = int(args[0]) if args else 300
    pairs = int(args[1]) if len(args) > 1 else 3
    base = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    data = base / "data"
    sizes = {"in": n, "small": small}
    for prefix, count in sizes.items():
        populate(data / "bench" / prefix, count, size=2048)
    root = base / "mnt"
    specs = {}
    for mode, script in (("file", FILE_SCRIPT), ("batch", BATCH_SCRIPT)):
        if mode not in modes:
            continue
        for prefix in sizes:
            folder = base / f"spec-{mode}-{prefix}"
            folder.mkdir()
            (folder / "s.sh").write_text(script)
            (folder / "batch.yaml").write_text(
                "name: bench\nservice: {name: s, image: alpine, script: s.sh}\n"
                f"input: {{bucket: bench, prefix: {prefix}/}}\n"
                f"worker: {{invoke: {mode}, batch_size: {small}}}\nplanning: {{max_workers: 1}}\n"
            )
            specs[mode, prefix] = spec_mod.load(folder / "batch.yaml")
    names = ["floor", "runner"] + [f"runner {other.parent.name}" for other in others]
    with ExitStack() as stack:
        ep = stack.enter_context(rclone.serve_s3(data))
        client = storage.make_client(ep.endpoint, ep.access_key, ep.secret_key)
        # every run is planned before the bucket is mounted, as in a pod (the mounts cache
        # the folders they list)
        planned = {
            (mode, prefix, name, i): planner.run_plan(
                client,
                s,
                f"{mode}-{prefix}-{name.replace(' ', '-')}-{i}".lower()
                .replace(".", "-")
                .replace("_", "-"),
                ONE_NODE,
            ).run
            for (mode, prefix), s in specs.items()
            for name in names
            for i in range(pairs)
        }
        for mode in modes:
            s = specs[mode, "in"]
            points = [m.point for m in workerpod.mounts(s, str(root), "r") if m.runner]
            variants: list[tuple[str, str | None, str | None]] = [
                ("floor", None, None),
                ("runner", runner_script.render(points), runner_script.render_service([])),
            ]
            for other in others:
                service = other.parent / "service.sh.j2"
                variants.append(
                    (
                        f"runner {other.parent.name}",
                        runner_script.render(points, other),
                        runner_script.render_service([], service) if service.exists() else None,
                    )
                )
            # per variant and round: (wall, CPU, rclone CPU) of the N-file run, and the CPU of
            # the small one
            got: dict[str, list[tuple[float, float, float, float]]] = {v: [] for v, *_ in variants}
            for i in range(pairs):
                for name, text, service in variants:
                    cpu = {}
                    for prefix in sizes:
                        run = planned[mode, prefix, name, i]
                        with worker_mounts(ep, "bench", root, run):
                            cpu[prefix] = run_once(
                                name, text, specs[mode, prefix], run, root, service
                            )
                    got[name].append((*cpu["in"], cpu["small"][1]))
            report(mode, n, small, pairs, got)
    return 0


def report(
    mode: str,
    n: int,
    small: int,
    pairs: int,
    got: dict[str, list[tuple[float, float, float, float]]],
) -> None:
    """Prints each variant's figures per file, and its ratios to the floor's (medians of the
    rounds' ratios). The marginal CPU per file is the slope between the small run and the
    N-file run: what one more file costs, without a pod's fixed start and end (its mounts
    awaited, its plan read, the dispatcher's start), which bench_local and bench_projection
    count per run."""

    def marginal(r: tuple[float, float, float, float]) -> float:
        return (r[1] - r[3]) / (n - small)

    floor = got["floor"]
    print(
        f"\n{mode} mode, batch_size {small}, {n} files, {pairs} interleaved rounds"
        " (ms per file, median):"
    )
    print("variant | wall | CPU | CPU rclone | marginal CPU | ratios to floor: CPU, marginal, wall")
    for name, runs in got.items():
        ratio, marginal_ratio, wall_ratio = (
            statistics.median(f(r) / f(q) for r, q in zip(runs, floor, strict=True))
            for f in (lambda r: r[1], marginal, lambda r: r[0])
        )
        ms = [statistics.median(r[i] for r in runs) / n * 1000 for i in range(3)]
        ms_marginal = statistics.median(marginal(r) for r in runs) * 1000
        print(
            f"{name} | {ms[0]:.2f} | {ms[1]:.2f} | {ms[2]:.2f} | {ms_marginal:.2f} | "
            f"{ratio:.3f}x, {marginal_ratio:.3f}x, {wall_ratio:.3f}x",
            flush=True,
        )
        if name != "floor":
            target = "<= 1.5x" if mode == "file" else "<= 1.1x"
            target = target if name == "runner" and small == 32 else ""
            floor_marginal = statistics.median(marginal(r) for r in floor) * 1000
            figure(
                f"{name}, {mode} mode, batch_size {small}: marginal CPU per file / shell-loop floor",
                f"{marginal_ratio:.3f}x; {ms_marginal:.2f} vs {floor_marginal:.2f} ms",
                target,
            )
            figure(
                f"{name}, {mode} mode, batch_size {small}: CPU per file, {n}-file run / floor (wall)",
                f"{ratio:.3f}x ({wall_ratio:.3f}x); {ms[1]:.2f} vs "
                f"{statistics.median(f[1] for f in floor) / n * 1000:.2f} ms",
                "",
            )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
