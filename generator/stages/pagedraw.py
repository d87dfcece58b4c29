"""The run's page (report.html), drawn by a child process (generator/forked) that imports
matplotlib while the aggregate loads and reads the results: the import (0.3-1 s) and the
drawing (0.2 s) after everything else were the larger half of a small run's aggregate pod.
The entry point starts it for `stage aggregate`; the page is the same bytes as
`pages.report_page` drawn in this process, which is what happens without a child.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from generator.forked import Child


def _prepare() -> Callable[[bytes], bytes]:
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.figure  # what `charts._svg` imports: done before the report comes

    from generator.stages import pages

    return lambda report: pages.report_page(json.loads(report)).encode("utf-8")


drawer = Child(_prepare)  # the entry point starts it for `stage aggregate`


def page(report: dict[str, Any]) -> bytes:
    """report.html: the child's, when one was started and answers, else drawn here."""
    drawn = drawer.ask(json.dumps(report).encode("utf-8"))
    if drawn is not None:
        return drawn
    from generator.stages import pages

    return pages.report_page(report).encode("utf-8")
