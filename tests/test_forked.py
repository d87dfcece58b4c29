"""A child forked at a command's start answers it once, or steps aside: the command then does
the work itself (generator/forked.py; the entry point starts one for `run SPEC --local` and
the aggregate pod)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from generator import __main__ as entry
from generator.build import prebuilt, workflow
from generator.forked import Child
from generator.spec import model
from tests.conftest import ROOT


def _upper() -> Callable[[bytes], bytes]:
    return lambda request: request.upper()


def _broken() -> Callable[[bytes], bytes]:
    raise ImportError("no such module")


def _started(prepare: Callable[[], Callable[[bytes], bytes]]) -> tuple[Child, int, int]:
    """A child forked now, its pid and the write end of its request pipe."""
    child = Child(prepare)
    child.start()
    assert child._running is not None
    pid, requests, _ = child._running
    return child, pid, requests


def test_a_child_answers_once_and_a_failed_one_says_none() -> None:
    child, _, _ = _started(_upper)
    assert child.ask(b"spec" * 100_000) == b"SPEC" * 100_000  # more than a pipe holds
    assert child.ask(b"spec") is None  # asked once: none left
    assert _started(_broken)[0].ask(b"spec") is None
    killed, pid, _ = _started(_upper)
    os.kill(pid, signal.SIGKILL)
    assert killed.ask(b"spec") is None
    assert Child(_upper).ask(b"spec") is None  # never started


def test_a_child_holds_none_of_the_commands_streams() -> None:
    # a caller reading the command's output until EOF (a pipe, `| head`) never waits for it
    child, pid, _ = _started(_upper)
    deadline = time.monotonic() + 10
    while {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (0, 1, 2)} != {"/dev/null"}:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert child.ask(b"x") == b"X"


def test_a_child_never_asked_ends_with_its_parent_pipe() -> None:
    _, pid, requests = _started(_upper)
    os.close(requests)  # what the parent's exit does
    deadline = time.monotonic() + 10
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_the_workflow_built_by_the_child_is_the_one_built_here() -> None:
    spec = model.load(ROOT / "examples" / "fish-detector" / "batch.yaml")
    prebuilt.builder.start()
    assert prebuilt.to_yaml(spec) == workflow.to_yaml(spec)
    assert prebuilt.to_yaml(spec) == workflow.to_yaml(spec)  # no child left: built here


def test_run_starts_the_builder_for_a_spec_not_for_a_workflow(tmp_path: Path) -> None:
    spec = ROOT / "examples" / "image-stats" / "batch.yaml"
    committed = ROOT / "workflows" / "image-stats.yaml"
    assert entry._runs_a_spec([str(spec), "--local", "--data-dir", str(tmp_path)])
    assert not entry._runs_a_spec(["--local", str(committed)])
    assert not entry._runs_a_spec([str(spec)])  # without --local: run only points to submit
