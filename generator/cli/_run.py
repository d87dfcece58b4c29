"""`oscar-batch run --local`: the whole batch on this machine, with a progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from generator import aggregate, identity, local, planner
from generator.cli._common import (
    Format,
    FormatOpt,
    RunOpt,
    SetOpt,
    SkipOpt,
    SpecArg,
    errors,
    fail,
    load_spec,
    print_json,
)


def _show(console: Console) -> Callable[[local.Progress, Callable[[], bool]], None]:
    def draw(counts: local.Progress, finished: Callable[[], bool]) -> None:
        started = time.monotonic()
        columns = (
            TextColumn("[bold]files"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("files", total=counts.total, failed=0, rate="")
            while True:
                done = finished()
                with counts.lock:
                    n, failed = counts.done, counts.failed
                elapsed = max(time.monotonic() - started, 1e-6)
                bar.update(task, completed=n, failed=failed, rate=f"{n / elapsed:.1f} files/s")
                if done:
                    return
                time.sleep(0.2)

    return draw


@errors
def run(
    spec: SpecArg,
    local_mode: Annotated[
        bool, typer.Option("--local", help="run on this machine (the only mode for now)")
    ] = False,
    workers: Annotated[int | None, typer.Option(min=1, help="at most this many workers")] = None,
    data_dir: Annotated[
        Path,
        typer.Option(help="the embedded S3 server's folder: DIR/<bucket>/<key> are plain files"),
    ] = Path("oscar-batch-data"),
    run_name: RunOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="resume a run made by another service version, or held by a gone run"
        ),
    ] = False,
    skip_existing: SkipOpt = None,
    output: FormatOpt = Format.table,
    overrides: SetOpt = None,
) -> None:
    """Run plan, workers and aggregate as local processes against real S3 and a FUSE mount."""
    if not local_mode:
        raise fail(
            "only --local is supported here; use `generate` and `argo submit` for a cluster", 2
        )
    extra = list(overrides or [])
    if workers is not None:
        extra.append(f"planning.max_workers={workers}")
    batch = load_spec(spec, extra, skip_existing, run_name)
    console = Console(stderr=True)

    def said(plan: planner.Plan, ep: local.Endpoint) -> None:
        where = f"embedded S3 server {ep.url} over {data_dir}/" if ep.embedded else ep.url
        console.print(f"S3: {where}")
        console.print(f"plan: {plan.reason}; {plan.pending} of {plan.files} files to process")
        console.print(
            "the service script runs on this machine (no container runtime),"
            " as the pods would run it"
        )

    result = local.run_local(
        batch,
        data_dir=data_dir,
        run=run_name or identity.default_run(batch),
        force=force,
        on_plan=said,
        show=_show(console) if output is Format.table else None,
    )
    report = result.report
    if output is Format.json:
        print_json(report)
    else:
        console.print(aggregate.summary_line(report))
        for problem in report["problems"][:20]:
            last = (problem.get("error") or "").strip().splitlines()[-1:] or [problem["reason"]]
            code = f" (exit {problem['exit_code']})" if problem.get("exit_code") is not None else ""
            line = f"  {problem['status']}{code}: {problem['key']}: {last[0][:120]}"
            console.print(line, markup=False)
        if report.get("worker_errors"):
            console.print(f"worker logs: {result.logs}")
        local_copy = data_dir / report["report"].removeprefix("s3://") if result.plan else None
        if local_copy and local_copy.exists():
            console.print(f"report file: {local_copy}")
    if not report["passed"]:
        raise fail(
            f"{report['failed_ratio']:.2%} of files failed or are missing"
            f" (allowed {batch.failure.max_failed_ratio:.2%})"
        )
