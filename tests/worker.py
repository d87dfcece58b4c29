"""A worker pod's two processes on host paths, for tests that run the runner without a pod:
the service dispatcher (the `service` container, templates/service.sh.j2) in the background
and the runner (main, templates/runner.sh.j2) in front, each with its container's environment,
sharing fresh ctl/work/config folders as the pod's emptyDirs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator.build import runner_script
from generator.spec.model import BatchSpec


class Pod(subprocess.Popen[str]):
    """The runner's process, leader of a process group the dispatcher is in too (a SIGKILL
    of the group is the pod's end); `wait` also reaps the dispatcher, which ends with it."""

    service: subprocess.Popen[bytes]

    def wait(self, timeout: float | None = None) -> int:
        code = super().wait(timeout)
        try:
            # the dispatcher ends at the runner's end of the job FIFO; a runner that died before
            # opening it leaves the dispatcher to Argo, which kills a pod's sidecars once main
            # has ended (controller: killContainers after the main container completes)
            self.service.wait(2)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.service.wait()
        return code


def start(spec: BatchSpec, runner: Path, env: Mapping[str, str], **popen: Any) -> Pod:
    """Start both (`popen`: subprocess.Popen's arguments, for the runner)."""
    folder = Path(tempfile.mkdtemp(prefix="pod-", dir=runner.parent))
    shared = {}
    for name in ("ctl", "work", "config"):
        (folder / name).mkdir()
        shared[name] = str(folder / name)
    runner_env = {
        **env,
        "OSCAR_BATCH_CTL": shared["ctl"],
        "OSCAR_BATCH_WORK": shared["work"],
        "OSCAR_BATCH_CONFIG": shared["config"],
    }
    service_env = {
        **{k: v for k, v in env.items() if not k.startswith("OSCAR_BATCH_")},
        **runner_script.service_environment(spec, shard=env["OSCAR_BATCH_SHARD"]),
        "OSCAR_BATCH_CTL": shared["ctl"],
        "OSCAR_BATCH_WORK": shared["work"],
        "OSCAR_BATCH_SCRIPT": f"{shared['config']}/script.sh",
    }
    service = folder / "service.sh"
    service.write_text(runner_script.render_service([]))
    proc = Pod(["sh", str(runner)], env=runner_env, text=True, process_group=0, **popen)
    with open(folder / "service.log", "w") as log:
        proc.service = subprocess.Popen(
            ["sh", str(service)],
            env=service_env,
            cwd=popen.get("cwd"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=proc.pid,
        )
    return proc


def run(
    spec: BatchSpec, runner: Path, env: Mapping[str, str], *, timeout: float = 60, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """Run both to the end, as subprocess.run(capture_output=True) runs the runner."""
    proc = start(spec, runner, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
