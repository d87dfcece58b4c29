"""A child process, forked at a command's start, that imports what the command needs last and
then answers it once.

Importing Hera (to build a workflow) or matplotlib (to draw the run's page) costs 0.3-1 s of
CPU; done one after the other with the command's own start (its imports, the spec, the S3
reads) they were a third of a small `run --local`. A child forked before those imports does
them on another core meanwhile; the command sends it its request (bytes through a pipe) when
it has it and reads the answer. A child that fails answers None, and the command does the
work itself, raising what there is to raise: the child only saves time, never decides.
"""

from __future__ import annotations

import os
from collections.abc import Callable


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Child:
    """A job for a child process: made at import (nothing forked yet), `start` forks it
    (before threads exist, as at a command's start); in the child, `prepare()` does the
    imports and returns the function that turns the request into the answer. A parent that
    ends without asking closes the request's pipe: the child reads nothing and ends too."""

    def __init__(self, prepare: Callable[[], Callable[[bytes], bytes]]) -> None:
        self._prepare = prepare
        self._running: tuple[int, int, int] | None = None  # pid, requests (w), answers (r)

    def start(self) -> None:
        requests_r, requests_w = os.pipe()
        answers_r, answers_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: it ends with os._exit, never returns
            code = 1
            try:
                os.close(requests_w)
                os.close(answers_r)
                # silent, and holding none of the command's streams: a caller reading its
                # output until EOF never waits for this child
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                answer = self._prepare()
                request = _read_all(requests_r)
                if request:
                    _write_all(answers_w, answer(request))
                code = 0
            finally:
                os._exit(code)
        os.close(requests_r)
        os.close(answers_w)
        self._running = (pid, requests_w, answers_r)

    def ask(self, request: bytes) -> bytes | None:
        """The child's answer; None when none was started or it failed (once: it then ends)."""
        if self._running is None:
            return None
        pid, requests, answers = self._running
        self._running = None
        try:
            _write_all(requests, request)
            os.close(requests)
            answer = _read_all(answers)
        except OSError:  # the child is gone (the pipe broke)
            answer = b""
        finally:
            os.close(answers)
            _, status = os.waitpid(pid, 0)
        return answer if answer and os.waitstatus_to_exitcode(status) == 0 else None
