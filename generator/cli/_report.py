"""`oscar-batch report`: a finished run's report, read from the bucket or a local run's folder."""

from __future__ import annotations

import json
from typing import Any

from generator.bucket import identity, layout, rundocs
from generator.cli._common import (
    HtmlOpt,
    RunOpt,
    SetOpt,
    SpecArg,
    errors,
    load_spec,
    plain,
    write_page,
)
from generator.cli._output import Col, Format, FormatOpt, note, print_data, print_names
from generator.cli._output import table as print_table
from generator.cli._runs import missing
from generator.cli._where import AliasOpt, DataDirOpt, EndpointOpt, output_store
from generator.stages import pages

PROBLEMS = (
    Col("key", ident=True),
    Col("status"),
    Col("exit", right=True),
    Col("reason", fold=True),
)


def rows(report: dict[str, Any]) -> list[list[str]]:
    """The report as (name, value) rows."""
    out = [[name, str(report.get(name))] for name in ("planned", "succeeded", "failed")]
    out += [[name, str(report.get(name))] for name in ("missing", "unsupported")]
    if report.get("no_output"):
        out.append(["no output", f"{report['no_output']} succeeded file(s) stored nothing"])
    versions = report.get("identities") or {}
    if len(versions) > 1:  # a forced resume mixed service versions
        out.append(
            ["service versions", ", ".join(f"{k}: {n} file(s)" for k, n in versions.items())]
        )
    out.append(["workers", str(report.get("workers"))])
    if report.get("mode"):
        invocations = report.get("invocations")
        out.append(
            [
                "mode",
                f"{report['mode']}" + (f", {invocations} invocation(s)" if invocations else ""),
            ]
        )
    attempt = report.get("attempt") or {}
    if attempt.get("nothing_to_do"):
        out.append(["this attempt", "nothing to do; the figures below are the last work's"])
    elif attempt:
        out.append(
            [
                "this attempt",
                f"{attempt.get('processed')} processed ({attempt.get('succeeded')} succeeded,"
                f" {attempt.get('failed')} failed)",
            ]
        )
    out.append(["wall time", f"{report.get('wall_seconds')} s"])
    rate = report.get("throughput_files_per_s")
    out.append(["throughput", "-" if rate is None else f"{rate} files/s"])
    durations = report.get("file_seconds") or {}
    if durations.get("mean") is not None:
        out.append(
            [
                "file seconds",
                f"mean {durations['mean']}, p50 {durations.get('p50')},"
                f" p95 {durations.get('p95')}, max {durations.get('max')}",
            ]
        )
    out.append(["outputs", plain(report.get("outputs"))])
    merged = report.get("merged") or {}
    out += [["merged", plain(where)] for where in merged.get("tables") or []]
    if merged.get("unreadable"):
        unmerged = f"{merged['unreadable']} output(s) unreadable (report.json: merged.problems)"
        out.append(["not merged", unmerged])
    out.append(
        [
            "verdict",
            "passed" if report.get("passed") else f"failed ({report.get('failed_ratio'):.2%} bad)",
        ]
    )
    return out


def show(report: dict[str, Any], fmt: Format = Format.table) -> None:
    print_table(
        (Col("field"), Col("value", ident=True)),
        rows(report),
        fmt,
        title=plain(f"run {report['run']} of {report['service']} over {report['input']}"),
        header=False,
        section=True,
    )
    problems = report.get("problems") or []
    if problems:
        total = report.get("problems_total", len(problems))
        listing = []
        for p in problems[:50]:
            first = (p.get("error") or "").strip().splitlines()[-1:] or [p.get("reason", "")]
            listing.append(
                [plain(p["key"]), p["status"], str(p.get("exit_code") or ""), plain(first[0])]
            )
        print_table(PROBLEMS, listing, fmt, title=f"{total} file(s) not processed", section=True)
        if total > 50:
            note(f"... and {total - 50} more in report.csv")


@errors
def report(
    spec: SpecArg,
    run: RunOpt = None,
    endpoint: EndpointOpt = None,
    alias: AliasOpt = None,
    data_dir: DataDirOpt = None,
    output: FormatOpt = Format.table,
    html: HtmlOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Print a finished run's report.json (keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY);
    --html draws its page again from it (also for runs of versions that wrote no page)."""
    batch = load_spec(spec, overrides)
    name = run or identity.default_run(batch)
    where = layout.RunLayout.of(batch, name)
    store, bucket = output_store(batch, endpoint, data_dir, alias)
    data = store.read(where.report_json)
    if data is None:
        raise missing(store, batch, name, bucket, "report", default=run is None)
    rundocs.parse(rundocs.Report, data, f"{bucket}{where.report_json}")  # types checked
    parsed = json.loads(data)
    if html is not None:
        write_page(html, pages.report_page(parsed))
    if output in (Format.json, Format.yaml):
        print_data(parsed, output)
    elif output is Format.name:
        print_names([plain(parsed.get("run"))])
    else:
        show(parsed, output)
