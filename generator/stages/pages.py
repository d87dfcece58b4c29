"""A run's report as one self-contained HTML page, drawn from its report.json alone.

The Argo UI shows an artifact in a sandboxed iframe whose Content-Security-Policy allows no
script, no font and no image from elsewhere (see `charts`): the page is static HTML with its
CSS inline and its charts as inline SVG. Every value that comes from a run (keys, reasons,
names) is escaped: a hostile key is text, never markup.
"""

from __future__ import annotations

import html
import time
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from generator import __version__
from generator.stages import charts, series

T = TypeVar("T", bound=BaseModel)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;
 margin:0 auto;padding:1rem 1.25rem;max-width:62rem}
h1{font-size:1.35rem;margin:.2rem 0;overflow-wrap:anywhere}
h2{font-size:1.05rem;margin:1.4rem 0 .3rem}
.sub{color:#4b5563;margin:.1rem 0;overflow-wrap:anywhere}
.verdict{display:inline-block;padding:.05rem .55rem;border-radius:.8rem;font-size:1rem;
 color:#fff;vertical-align:middle}
.passed{background:#2e7d32}.failed{background:#c62828}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(8.5rem,1fr));gap:.5rem;
 margin:.8rem 0}
.card{border:1px solid #e5e7eb;border-radius:.4rem;padding:.35rem .6rem}
.card b{display:block;font-size:1.2rem}.card span{color:#4b5563;font-size:.8rem}
svg{width:100%;height:auto;display:block}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{text-align:left;padding:.2rem .4rem;border-bottom:1px solid #e5e7eb;vertical-align:top}
td.k{overflow-wrap:anywhere;font-family:ui-monospace,Menlo,Consolas,monospace}
td.n,th.n{text-align:right;white-space:nowrap}
.note{color:#4b5563;font-size:.8rem}
@media print{body{max-width:none;padding:0}section{break-inside:avoid}}
"""


def esc(value: Any) -> str:
    """A value as HTML text (quotes too: values also go into attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def number(value: Any) -> str:
    """Counts with thousands separators; other figures to 3 significant digits, whole above 100."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def document(title: str, body: str) -> str:
    """The page around `body` (already HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}"
        f'<p class="note">Written by oscar-batch {esc(__version__)}.</p></body></html>\n'
    )


def cards(items: list[tuple[str, Any]]) -> str:
    """Figures as a grid of small boxes."""
    boxes = "".join(
        f'<div class="card"><b>{esc(number(v))}</b><span>{esc(k)}</span></div>' for k, v in items
    )
    return f'<div class="cards">{boxes}</div>'


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{esc(title)}</h2>{''.join(parts)}</section>"


def _reasons(reasons: list[series.Reason]) -> str:
    labels = [
        r.status if r.reason in (r.status, "") else f"{r.status}: {r.reason}" for r in reasons
    ]
    rows = "".join(
        f'<tr><td>{esc(label)}</td><td class="n">{esc(number(r.files))}</td>'
        f'<td class="k">{"<br>".join(esc(k) for k in r.examples)}</td></tr>'
        for label, r in zip(labels, reasons, strict=True)
    )
    chart = charts.bars(
        labels, [r.files for r in reasons],
        [charts.STATUS_COLORS.get(r.status, charts.INK) for r in reasons],
    )  # fmt: skip
    head = '<tr><th>reason</th><th class="n">files</th><th>first keys</th></tr>'
    table = f"<table>{head}{rows}</table>"
    return section("Files not processed, by reason", chart, table)


def _checked(model: type[T], value: Any, what: str) -> tuple[T | None, str]:
    """`value` as `model`, or None and a note saying why it is not drawn."""
    try:
        return model.model_validate(value), ""
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        said = f"{where}: {first['msg']}" if where else first["msg"]
        return (
            None,
            f'<p class="note">report.json\'s {esc(what)} cannot be drawn ({esc(said)}).</p>',
        )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class _Reasons(series.Shape):
    items: list[series.Reason]


class _Shards(series.Shape):
    items: dict[str, series.ShardFigures]


def _timeline(value: Any) -> str:
    title = "Files completed over time, per worker"
    timeline, why = _checked(series.Timeline, value, "timeline")
    if timeline is None:
        return section(title, why)
    band = timeline.band.model_dump() if timeline.band else None
    return section(
        title, charts.timeline(timeline.bin_seconds, timeline.workers, timeline.lines, band)
    )


def _durations(value: Any) -> str:
    title = "Seconds per file (this attempt)"
    durations, why = _checked(series.Durations, value, "durations")
    if durations is None:
        return section(title, why)
    return section(title, charts.histogram(durations.edges, durations.counts, durations.log))


def _shards(value: Any) -> str:
    title = "Per shard: time against files"
    shards, why = _checked(_Shards, {"items": value}, "shards")
    if shards is None:
        return section(title, why)
    figures = list(shards.items.values())
    chart = charts.scatter(
        [v.files for v in figures], [v.seconds for v in figures], [v.failed > 0 for v in figures],
        "files in the shard (this attempt)", "seconds of processing",
        ("all files succeeded", "with failed files"),
    )  # fmt: skip
    return section(title, chart)


def report_page(report: dict[str, Any]) -> str:
    """The page of a run's report.json (the charts its version of report.json feeds).

    Figures are printed as they are (escaped); the series are checked before they are drawn.
    """
    passed = report.get("passed") is True
    verdict = "passed" if passed else "failed"
    fs = _mapping(report.get("file_seconds"))
    figures = [
        ("planned", report.get("planned")), ("succeeded", report.get("succeeded")),
        ("failed", report.get("failed")), ("missing", report.get("missing")),
        ("unsupported", report.get("unsupported")), ("workers", report.get("workers")),
        ("wall seconds", report.get("wall_seconds")),
        ("files/s", report.get("throughput_files_per_s")),
        ("median s/file", fs.get("p50")), ("p95 s/file", fs.get("p95")),
    ]  # fmt: skip
    parts = [
        f"<h1>Run {esc(report.get('run'))} of {esc(report.get('service'))} "
        f'<span class="verdict {verdict}">{verdict}</span></h1>',
        f'<p class="sub">{esc(report.get("input"))} &rarr; {esc(report.get("outputs"))}</p>',
        cards(figures),
    ]
    if "timeline" not in report:
        parts.append('<p class="note">This report.json predates the charts.</p>')
    if _mapping(report.get("timeline")).get("lines"):
        parts.append(_timeline(report["timeline"]))
    if _mapping(report.get("durations")).get("counts"):
        parts.append(_durations(report["durations"]))
    if report.get("reasons"):
        reasons, why = _checked(_Reasons, {"items": report["reasons"]}, "reasons")
        parts.append(_reasons(reasons.items) if reasons else section("Files not processed", why))
    if report.get("shards"):
        parts.append(_shards(report["shards"]))
    return document(f"run {report.get('run')}", "".join(parts))


def compare_page(
    summary: dict[str, int],
    run_a: str,
    run_b: str,
    changes: dict[str, Any],
    classes: dict[str, Any] | None,
) -> str:
    """The page of a comparison of two runs (`compare --html`): verdicts, records per input in
    A against B, the files that changed most, and per-class totals when the merged records
    have a class field.

    Args:
        summary: files per verdict (`bucket.compare.summarise`'s summary).
        run_a: the first run's name.
        run_b: the second run's name.
        changes: `series.Changes.series()`.
        classes: `series.class_totals(...)`, or None.
    """
    a, b = f"run {run_a}", f"run {run_b}"
    figures = [
        ("files", summary.get("files")), ("identical", summary.get("identical")),
        ("differ", summary.get("differ")), (f"only in {run_a}", summary.get("only_a")),
        (f"only in {run_b}", summary.get("only_b")), ("in neither", summary.get("neither")),
    ]  # fmt: skip
    parts = [
        f"<h1>{esc(run_a)} vs {esc(run_b)}</h1>",
        '<p class="sub">Outputs compared per input file by content; records counted in the'
        " JSON/CSV outputs.</p>",
        cards(figures),
    ]
    if changes.get("pairs"):
        parts.append(
            section(
                "Records per input",
                charts.record_pairs(changes["pairs"], changes["cell"], a, b),
                charts.deltas(changes["deltas"], changes["cell"], a, b),
            )
        )
    rows = "".join(
        f'<tr><td class="k">{esc(f["file"])}</td><td class="n">{esc(number(f["a"]))}</td>'
        f'<td class="n">{esc(number(f["b"]))}</td><td class="n">{f["b"] - f["a"]:+,}</td>'
        f'<td class="k">{esc(", ".join(f["changed"]))}</td></tr>'
        for f in changes.get("changed_most") or []
    )
    if rows:
        head = (
            f'<tr><th>file</th><th class="n">records {esc(run_a)}</th>'
            f'<th class="n">records {esc(run_b)}</th><th class="n">change</th>'
            "<th>changed outputs</th></tr>"
        )
        parts.append(section("Files that changed most", f"<table>{head}{rows}</table>"))
    if classes:
        labels = [c["class"] for c in classes["classes"]]
        chart = charts.grouped_bars(
            labels, [c["a"] for c in classes["classes"]], [c["b"] for c in classes["classes"]],
            (a, b),
        )  # fmt: skip
        parts.append(section(f"Records per {classes['field']}", chart))
    return document(f"{run_a} vs {run_b}", "".join(parts))


def runs_page(title: str, runs: list[dict[str, Any]], pages_of: set[str]) -> str:
    """An index of runs (`runs --html`): one row per run, linked to its page when it has one.

    Args:
        title: where the runs are.
        runs: `bucket.runs.RunInfo.to_json()` of each run.
        pages_of: the runs whose page sits beside this one, as `<run>.html`.
    """
    numbers = ("files", "ok", "failed")
    head = "".join(
        f'<th class="n">{n}</th>' if n in numbers else f"<th>{n}</th>"
        for n in ("run", "date", *numbers, "state", "service (image, script, env)")
    )
    rows = []
    for r in runs:
        name = esc(r["run"])
        if r["run"] in pages_of:  # a run name is a DNS label: safe in a relative link
            name = f'<a href="{esc(r["run"])}.html">{name}</a>'
        date = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["created"])) if r["created"] else "-"
        cells = [number(r.get(k)) for k in ("planned", "succeeded", "failed")]
        rows.append(
            f'<tr><td class="k">{name}</td><td>{date}</td>'
            + "".join(f'<td class="n">{esc(c)}</td>' for c in cells)
            + f'<td>{esc(r["state"])}</td><td class="k">{esc(r["service"])}</td></tr>'
        )
    body = (
        f'<h1>Runs</h1><p class="sub">{esc(title)}</p><table><tr>{head}</tr>{"".join(rows)}</table>'
    )
    return document("runs", body)
