"""Static charts as inline `<svg>` text, drawn by matplotlib.

Argo serves an artifact with `default-src 'none'; img-src 'self'` and a sandbox without
scripts (server/artifacts/artifact_server.go, setSecurityHeaders): a chart must be an `<svg>`
element inside the page, never an `<img>` (a `data:` image is blocked), so nothing here may
rasterise (no imshow). Text stays text (`svg.fonttype: none`): smaller, selectable, drawn in
the browser's font (the policy loads no web font anyway).

matplotlib is imported inside `_svg` only: the plan pod and the CLI's other commands never
pay for it; the aggregate pays once, when it writes the page.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Sequence
from typing import Any

WIDTH_IN = 7.2  # drawn at 100% of the page column (CSS), so this sets the text's size
HEIGHT_IN = 2.7
LINES = 8  # workers drawn one by one; past that, a band and the LINES furthest behind
INK = "#1f2937"
BLUE = "#1565c0"
STATUS_COLORS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "missing": "#ef6c00",
    "unsupported": "#6b7280",
}
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)


def _svg(name: str, draw: Callable[[Any], None], height: float = HEIGHT_IN) -> str:
    """One figure drawn by `draw(figure)`, as an `<svg>` element without XML prologue."""
    import matplotlib

    matplotlib.use("svg")
    from matplotlib.figure import Figure

    with matplotlib.rc_context(
        {
            "svg.fonttype": "none",
            # ids (clip paths, markers) hashed with a salt per chart: the same page twice is the
            # same bytes, and two charts on one page never share an id
            "svg.hashsalt": name,
            "font.size": 9,
            # text is drawn as written: a `$` in a key or reason would otherwise start mathtext
            "text.parse_math": False,
            "text.usetex": False,
            "axes.edgecolor": INK,
            "axes.labelcolor": INK,
            "xtick.color": INK,
            "ytick.color": INK,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    ):
        fig = Figure(figsize=(WIDTH_IN, height), layout="constrained")
        draw(fig)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    return _PROLOGUE.sub("", out.getvalue(), count=1)


def _curves(per_shard: dict[str, list[int]], planned: dict[str, int]) -> dict[str, list[float]]:
    curves = {}
    for sid, counts in per_shard.items():
        total = planned.get(sid) or sum(counts) or 1
        done, ys = 0, [0.0]
        for n in counts:
            done += n
            ys.append(100 * done / total)
        curves[sid] = ys
    return curves


def _behind(ys: list[float]) -> tuple[float, int]:
    """Least done at the end first, then the latest to finish."""
    last = max((i for i in range(1, len(ys)) if ys[i] > ys[i - 1]), default=0)
    return ys[-1], -last


def timeline(step: float, per_shard: dict[str, list[int]], planned: dict[str, int]) -> str:
    """Files completed over time per worker (shard), as the share of its files done.

    Up to LINES workers each get a line; past that, the spread of all of them is a band
    (min-max, and the median) and only the LINES furthest behind get lines: the chart stays
    the same size however wide the run, and a straggler or a dead worker stands out.
    """
    curves = _curves(per_shard, planned)
    bins = len(next(iter(curves.values())))
    xs = [i * step / 60 for i in range(bins)]
    many = len(curves) > LINES
    shown = sorted(curves, key=lambda s: _behind(curves[s]))[:LINES] if many else sorted(curves)

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        if many:
            columns = [sorted(c) for c in zip(*curves.values(), strict=True)]
            ax.fill_between(xs, [c[0] for c in columns], [c[-1] for c in columns], step="post",
                            color=BLUE, alpha=0.15, linewidth=0,
                            label=f"all {len(curves)} workers, min to max")  # fmt: skip
            ax.plot(xs, [c[len(c) // 2] for c in columns], drawstyle="steps-post", color=BLUE,
                    linewidth=2, label="median worker")  # fmt: skip
        for sid in shown:
            ys = curves[sid]
            note = "" if ys[-1] >= 99.95 else f", {ys[-1]:.0f}% done"
            ax.plot(xs, ys, drawstyle="steps-post", linewidth=1, label=f"shard {sid}{note}")
        ax.set_xlabel("minutes since the plan")
        ax.set_ylabel("% of its files done")
        ax.set_ylim(0, 105)
        ax.set_xlim(0, xs[-1])
        fig.legend(loc="outside lower center", ncols=4, fontsize=7, frameon=False)

    rows = (len(shown) + (2 if many else 0) + 3) // 4
    return _svg("timeline", draw, HEIGHT_IN + 0.16 * rows)


def histogram(edges: Sequence[float], counts: Sequence[int], log: bool) -> str:
    """Per-file seconds, from pre-binned counts."""

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        widths = [b - a for a, b in itertools.pairwise(edges)]
        ax.bar(edges[:-1], counts, width=widths, align="edge", color=BLUE, edgecolor="white",
               linewidth=0.3)  # fmt: skip
        if log:
            ax.set_xscale("log")
        ax.set_xlabel("seconds per file" + (" (log scale)" if log else ""))
        ax.set_ylabel("files")
        ax.grid(False, axis="x")

    return _svg("durations", draw)


def bars(labels: Sequence[str], counts: Sequence[int], colors: Sequence[str]) -> str:
    """Horizontal bars, the first on top, each with its count."""

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        ys = list(range(len(labels)))[::-1]
        ax.barh(ys, counts, color=colors)
        ax.set_yticks(ys, [label[:48] for label in labels])
        ax.set_xlabel("files")
        ax.set_xlim(0, max(counts) * 1.12 if counts else 1)
        for y, n in zip(ys, counts, strict=True):
            ax.annotate(f" {n:,}", (n, y), va="center", fontsize=8)
        ax.grid(False, axis="y")

    return _svg("reasons", draw, max(1.3, 0.3 * len(labels) + 0.75))


def scatter(
    xs: Sequence[float], ys: Sequence[float], bad: Sequence[bool], xlabel: str, ylabel: str,
    legend: tuple[str, str],
) -> str:  # fmt: skip
    """Points, `bad` ones in red; `legend` names the good and the bad."""

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        kinds = ((False, BLUE, legend[0]), (True, STATUS_COLORS["failed"], legend[1]))
        for flag, color, label in kinds:
            px = [x for x, b in zip(xs, bad, strict=True) if b is flag]
            py = [y for y, b in zip(ys, bad, strict=True) if b is flag]
            if px:
                ax.scatter(px, py, s=16, color=color, alpha=0.8, linewidths=0, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, frameon=False, loc="upper left")

    return _svg("scatter", draw)
