"""The run's page (report.html) drawn by a child process that imports matplotlib while the
aggregate reads the results.

Importing matplotlib takes 0.3-1 s of CPU and drawing the page another 0.2 s, after the
aggregate's own start (the CLI, the spec, the results on S3): done one after the other they
were the larger half of a small run's aggregate pod. The child is forked at the start of the
`stage aggregate` command, before its own imports; the aggregate hands it the report (JSON
through a pipe) and reads the page back. The page is the same bytes as `pages.report_page`
drawn here, which is what happens whenever there is no child or it fails.
"""

from __future__ import annotations

import json
import os
from typing import Any

_child: tuple[int, int, int] | None = None  # pid, the report's pipe (write), the page's (read)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _draw(reports: int, pages_out: int) -> None:
    """The child: import, wait for the report, draw, answer. A parent that ends first closes
    the report's pipe: the child reads nothing and ends too."""
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.figure  # what `charts._svg` imports: done before the report comes

    from generator.stages import pages

    data = _read_all(reports)
    if data:
        _write_all(pages_out, pages.report_page(json.loads(data)).encode("utf-8"))


def start() -> None:
    """Fork the child (once; call it before threads exist, as at a command's start)."""
    global _child
    if _child is not None:
        return
    reports_r, reports_w = os.pipe()
    pages_r, pages_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: it ends with os._exit, never returns
        code = 1
        try:
            os.close(reports_w)
            os.close(pages_r)
            _draw(reports_r, pages_w)
            code = 0
        finally:
            os._exit(code)
    os.close(reports_r)
    os.close(pages_w)
    _child = (pid, reports_w, pages_r)


def page(report: dict[str, Any]) -> bytes:
    """report.html: from the child when one was started and answers, else drawn here."""
    global _child
    if _child is not None:
        pid, reports_w, pages_r = _child
        _child = None
        try:
            _write_all(reports_w, json.dumps(report).encode("utf-8"))
            os.close(reports_w)
            drawn = _read_all(pages_r)
        except OSError:
            drawn = b""
        finally:
            os.close(pages_r)
            _, status = os.waitpid(pid, 0)
        if drawn and os.waitstatus_to_exitcode(status) == 0:
            return drawn
    from generator.stages import pages

    return pages.report_page(report).encode("utf-8")
