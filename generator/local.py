"""`run --local`: the workflow's three stages as local processes, on real S3 and a real FUSE mount.

The plan and aggregate stages are the same functions the pods run; the workers are the same
rendered runner script, run with `sh` on this machine (no container runtime: the service
script runs on the host), each bucket mounted with the sidecar's `rclone mount` flags.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minio import Minio

from generator import aggregate, cluster, planner, rclone, runner, storage, workerpod
from generator.spec import BatchSpec


@dataclass
class Progress:
    """Counters the workers' status lines feed; read by the progress display."""

    total: int = 0
    done: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def feed(self, line: str) -> None:
        status = line.split(" ", 1)[0]
        with self.lock:
            if status in ("ok", "fail", "skip"):
                self.done += 1
            if status == "fail":
                self.failed += 1


@dataclass(frozen=True)
class Endpoint:
    url: str
    access_key: str
    secret_key: str = field(repr=False)
    embedded: bool = False


@contextlib.contextmanager
def endpoint(spec: BatchSpec, data_dir: Path, log: Path) -> Iterator[Endpoint]:
    """The spec's endpoint with keys from the environment, or an embedded `rclone serve s3`."""
    if spec.input.endpoint:
        access, secret = storage.keys_from_env(spec.input.endpoint)
        yield Endpoint(spec.input.endpoint.rstrip("/"), access, secret, embedded=False)
        return
    for bucket in spec.buckets:
        (data_dir / bucket).mkdir(parents=True, exist_ok=True)
    with rclone.serve_s3(data_dir, log) as server:
        yield Endpoint(server.endpoint, server.access_key, server.secret_key, embedded=True)


@dataclass
class _Workers:
    """The runner processes alive now, so an interrupted run can stop every one of them."""

    stopping: threading.Event = field(default_factory=threading.Event)
    alive: set[subprocess.Popen[bytes]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(
        self, cmd: list[str], env: dict[str, str], log: Path, on_line: Callable[[str], None]
    ) -> int:
        with (
            log.open("ab") as err,
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=err, start_new_session=True
            ) as proc,
        ):
            with self.lock:
                self.alive.add(proc)
            try:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    on_line(raw.decode("utf-8", "replace"))
                return proc.wait()
            finally:
                with self.lock:
                    self.alive.discard(proc)

    def stop(self) -> None:
        """SIGTERM each runner's process group (the runner and the script it runs)."""
        self.stopping.set()
        with self.lock:
            for proc in self.alive:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)


def run_workers(
    spec: BatchSpec,
    shard_ids: list[str],
    *,
    mnt_root: Path,
    run: str,
    work: Path,
    logs: Path,
    progress: Progress,
) -> dict[str, int]:
    """Every shard's runner at once (the plan already sized the width to this machine).

    A runner that exits non-zero is retried, with backoff, like Argo's retryStrategy would
    (argo.retries times).

    Returns:
        The final exit code of each shard's runner.
    """
    script = work / "script.sh"
    script.write_text(spec.service.script, encoding="utf-8")
    script.chmod(0o755)
    runner_sh = work / "runner.sh"
    runner_sh.write_text(runner.render(m.point for m in workerpod.mounts(spec, str(mnt_root))))
    codes: dict[str, int] = {}
    workers = _Workers()

    def one(shard: str) -> None:
        env = {
            **os.environ,
            **runner.environment(
                spec, mnt_root=str(mnt_root), run=run, shard=shard, script=str(script)
            ),
            "ARGO_PROGRESS_FILE": str(work / f"progress-{shard}"),
            "TMPDIR": str(work),
        }
        for attempt in range(spec.argo.retries + 1):
            # back off before a retry, as the workflow's retryStrategy does (shorter here)
            if workers.stopping.wait(min(2**attempt, 16) if attempt else 0):
                return
            codes[shard] = workers.run(
                ["sh", str(runner_sh)], env, logs / f"worker-{shard}.log", progress.feed
            )
            if codes[shard] == 0:
                return

    threads = [threading.Thread(target=one, args=(s,), daemon=True) for s in shard_ids]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():  # a timed join lets Ctrl-C through
                t.join(0.2)
    except BaseException:
        workers.stop()
        for t in threads:
            t.join(15)
        raise
    return codes


@dataclass(frozen=True)
class LocalResult:
    plan: planner.Plan
    report: dict[str, Any]
    codes: dict[str, int]
    logs: Path


def run_local(
    spec: BatchSpec,
    *,
    data_dir: Path,
    run: str,
    on_plan: Callable[[planner.Plan, Endpoint], None] | None = None,
    show: Callable[[Progress, Callable[[], bool]], None] | None = None,
    force: bool = False,
) -> LocalResult:
    """Plan, work and aggregate on this machine; clean up what was started, also on errors.

    Args:
        spec: the batch spec (planning.max_workers caps the width).
        data_dir: the embedded server's folder (DIR/<bucket>/<key>) when the spec has no endpoint.
        run: the run name.
        on_plan: called once the plan is written (for the CLI to say what will happen).
        show: draws progress until its second argument returns True.
        force: resume a run of another service version, or one whose lock looks held.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    logs = data_dir / ".oscar-batch-logs" / run
    logs.mkdir(parents=True, exist_ok=True)
    # Mount points and scratch stay short and space-free, whatever the data folder is called.
    work = Path(tempfile.mkdtemp(prefix="oscar-batch-"))
    try:
        return _run(spec, data_dir, run, work, logs, on_plan, show, force)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(
    spec: BatchSpec,
    data_dir: Path,
    run: str,
    work: Path,
    logs: Path,
    on_plan: Callable[[planner.Plan, Endpoint], None] | None,
    show: Callable[[Progress, Callable[[], bool]], None] | None,
    force: bool,
) -> LocalResult:
    with endpoint(spec, data_dir, logs / "s3-server.log") as ep:
        client: Minio = storage.make_client(ep.url, ep.access_key, ep.secret_key, spec.input.region)
        plan = planner.run_plan(client, spec, run, cluster.this_machine(), force=force)
        if on_plan:
            on_plan(plan, ep)
        env = rclone.keyed_env(ep.url, ep.access_key, ep.secret_key)
        extra = rclone.EMBEDDED_SERVER_FLAGS if ep.embedded else []
        mnt_root = work / "mnt"
        with contextlib.ExitStack() as mounts:
            for i, m in enumerate(workerpod.mounts(spec, str(mnt_root))):
                mounts.enter_context(
                    rclone.mount(
                        m.bucket, Path(m.point), env, extra, logs / f"mount-{i}.log", m.read_only
                    )
                )
            progress = Progress(total=plan.pending)
            finished = threading.Event()
            drawer = (
                threading.Thread(target=show, args=(progress, finished.is_set), daemon=True)
                if show
                else None
            )
            if drawer:
                drawer.start()
            try:
                codes = run_workers(
                    spec,
                    [s.id for s in plan.shards],
                    mnt_root=mnt_root,
                    run=run,
                    work=work,
                    logs=logs,
                    progress=progress,
                )
            finally:
                finished.set()
                if drawer:
                    drawer.join()
        report = aggregate.run_aggregate(client, spec, run)
    broken = sorted(s for s, c in codes.items() if c != 0)
    if broken:
        report["worker_errors"] = {s: str(logs / f"worker-{s}.log") for s in broken}
    return LocalResult(plan, report, codes, logs)
