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
INK = "#1f2937"
BLUE = "#1565c0"
# a worker's own line: any colour but the band's blue
LINE_COLORS = (
    "#ef6c00",
    "#c62828",
    "#6a1b9a",
    "#2e7d32",
    "#00838f",
    "#ad1457",
    "#5d4037",
    "#455a64",
)
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


def timeline(step: float, workers: int, lines: dict[str, list[float]], band: Any) -> str:
    """Files completed over time per worker, as the share of its files done (see
    `series.timeline`): a line per worker, or a band of all and the lines of those behind."""
    points = len(band["median"]) if band else len(next(iter(lines.values())))
    xs = [i * step / 60 for i in range(points)]

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        if band:
            ax.fill_between(xs, band["min"], band["max"], step="post", color=BLUE, alpha=0.15,
                            linewidth=0, label=f"all {workers} workers, min to max")  # fmt: skip
            ax.plot(xs, band["median"], drawstyle="steps-post", color=BLUE, linewidth=2,
                    label="median worker")  # fmt: skip
        for i, (sid, ys) in enumerate(lines.items()):
            note = "" if ys[-1] >= 100 else f", {ys[-1]:.0f}% done"
            color = LINE_COLORS[i % len(LINE_COLORS)]
            ax.plot(xs, ys, drawstyle="steps-post", linewidth=1.2, color=color,
                    label=f"shard {sid}{note}")  # fmt: skip
        ax.set_xlabel("minutes since the plan")
        ax.set_ylabel("% of its files done")
        ax.set_ylim(0, 105)
        ax.set_xlim(0, xs[-1])
        fig.legend(loc="outside lower center", ncols=4, fontsize=7, frameon=False)

    rows = (len(lines) + (2 if band else 0) + 3) // 4
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
            # plain numbers: the log formatter writes mathtext, which is off (see _svg)
            ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
            ax.xaxis.set_minor_formatter("")
        ax.set_xlabel("seconds per file" + (" (log scale)" if log else ""))
        ax.set_ylabel("files")
        ax.grid(False, axis="x")

    return _svg("durations", draw)


def bars(labels: Sequence[str], counts: Sequence[int], colors: Sequence[str]) -> str:
    """Horizontal bars, the first on top, each with its count."""

    def draw(fig: Any) -> None:
        from matplotlib.ticker import MaxNLocator

        ax = fig.subplots()
        ys = list(range(len(labels)))[::-1]
        ax.barh(ys, counts, color=colors, height=0.6)
        ax.set_yticks(ys, [label[:48] for label in labels])
        ax.set_ylim(-0.6, len(labels) - 0.4)
        ax.set_xlabel("files")
        ax.set_xlim(0, max(counts) * 1.12 if counts else 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # files come whole
        for y, n in zip(ys, counts, strict=True):
            ax.annotate(f" {n:,}", (n, y), va="center", fontsize=8)
        ax.grid(False, axis="y")

    return _svg("reasons", draw, max(1.2, 0.3 * len(labels) + 0.75))


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
        # from 0, with room above and right for the largest point
        ax.set_xlim(0, max(xs, default=1) * 1.08 or 1)
        ax.set_ylim(0, max(ys, default=1) * 1.1 or 1)
        ax.legend(fontsize=7, frameon=False, loc="upper left")

    return _svg("scatter", draw)


def record_pairs(cells: Sequence[Sequence[int]], width: int, a: str, b: str) -> str:
    """Files by (records in A, records in B): a dot per pair, its area by the files; on the
    diagonal nothing changed."""

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        xs, ys, ns = zip(*cells, strict=True) if cells else ((), (), ())
        top = max([*xs, *ys, 1]) + width
        ax.plot([0, top], [0, top], color=INK, linewidth=0.6, alpha=0.5, label="same in both")
        sizes = [12 + 180 * n / max(ns) for n in ns]
        ax.scatter(xs, ys, s=sizes, color=BLUE, alpha=0.6, linewidths=0, label="files")
        unit = "records" if width == 1 else f"records (in steps of {width})"
        ax.set_xlabel(f"{unit} in {a}")
        ax.set_ylabel(f"{unit} in {b}")
        ax.set_xlim(-0.5 * width, top)
        ax.set_ylim(-0.5 * width, top)
        ax.legend(fontsize=7, frameon=False, loc="lower right")

    return _svg("pairs", draw, HEIGHT_IN + 0.6)


def deltas(pairs: Sequence[Sequence[int]], width: int, a: str, b: str) -> str:
    """Files by how many records they gained or lost from A to B."""

    def draw(fig: Any) -> None:
        from matplotlib.ticker import MaxNLocator

        ax = fig.subplots()
        xs = [d for d, _ in pairs]
        colors = [STATUS_COLORS["succeeded"] if d > 0 else STATUS_COLORS["failed"] if d < 0
                  else BLUE for d in xs]  # fmt: skip
        ax.bar(xs, [n for _, n in pairs], width=0.8 * width, color=colors)
        ax.set_xlabel(f"records in {b} minus records in {a}")
        ax.set_ylabel("files")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(False, axis="x")

    return _svg("deltas", draw)


def grouped_bars(
    labels: Sequence[str], a: Sequence[int], b: Sequence[int], names: tuple[str, str]
) -> str:
    """Two bars per label (A, then B), the first label on top."""

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        ys = list(range(len(labels)))[::-1]
        ax.barh([y + 0.2 for y in ys], a, height=0.4, color="#90a4ae", label=names[0])
        ax.barh([y - 0.2 for y in ys], b, height=0.4, color=BLUE, label=names[1])
        ax.set_yticks(ys, [label[:40] for label in labels])
        ax.set_ylim(-0.7, len(labels) - 0.3)
        ax.set_xlabel("records")
        ax.grid(False, axis="y")
        fig.legend(loc="outside lower center", ncols=2, fontsize=7, frameon=False)

    return _svg("classes", draw, max(1.4, 0.32 * len(labels) + 0.9))
