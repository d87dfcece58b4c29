"""`oscar-batch run FILE --local`: execute the workflow document on this machine."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from generator.bucket import layout, rundocs
from generator.cli._common import (
    RunOpt,
    SetOpt,
    SkipOpt,
    errors,
    fail,
    load_spec,
    plain,
)
from generator.cli._output import Format, FormatOpt, print_data
from generator.cli._where import LOCAL_DATA
from generator.local import run as localrun


def _show(console: Console) -> Callable[[Callable[[], tuple[int, int]], Callable[[], bool]], None]:
    def draw(counts: Callable[[], tuple[int, int]], finished: Callable[[], bool]) -> None:
        started = time.monotonic()
        columns = (
            TextColumn("[bold]files"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("files", total=None, rate="")
            while True:
                done = finished()
                n, total = counts()
                elapsed = max(time.monotonic() - started, 1e-6)
                bar.update(
                    task, completed=n, total=total or None, rate=f"{n / elapsed:.1f} files/s"
                )
                if done:
                    return
                time.sleep(0.2)

    return draw


def _terminate(signum: int, _frame: Any) -> None:
    # SIGTERM and SIGHUP stop the run as Ctrl-C does: every pod, mount and server is stopped
    raise KeyboardInterrupt


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for v in (item for value in values for item in value.split(",")):
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise fail(f"{what} {v!r}: expected NAME=VALUE", 2)
        out[key] = value
    return out


def _image_dirs(values: list[str]) -> dict[str, Path]:
    out = {}
    for image, folder in _pairs(values, "--image-dir").items():
        path = Path(folder).resolve()
        if not path.is_dir():
            raise fail(f"--image-dir {image}={folder}: not a folder", 2)
        out[image] = path
    return out


@errors
def run(
    file: Annotated[
        Path,
        typer.Argument(
            help="a batch spec, or a workflow YAML (Workflow, WorkflowTemplate, CronWorkflow)"
        ),
    ],
    local_mode: Annotated[bool, typer.Option("--local", help="run on this machine")] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="at most this many workers (spec only)")
    ] = None,
    data_dir: Annotated[
        Path,
        typer.Option(help="the embedded S3 server's folder: DIR/<bucket>/<key> are plain files"),
    ] = LOCAL_DATA,
    run_name: RunOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="take over the run's lock from a run that is gone (a stopped run --local"
            " releases its own)",
        ),
    ] = False,
    other_version: Annotated[
        bool,
        typer.Option(
            "--resume-other-version",
            help="resume a run that another service version (image, script, env) began",
        ),
    ] = False,
    skip_existing: SkipOpt = None,
    output: FormatOpt = Format.table,
    overrides: SetOpt = None,
    node_resources: Annotated[
        list[str] | None,
        typer.Option(
            "--node-resources",
            help="extra allocatable resources of this machine, e.g. nvidia.com/gpu=1",
        ),
    ] = None,
    node_labels: Annotated[
        list[str] | None,
        typer.Option(
            "--node-labels", help="labels of this machine's node, e.g. nvidia.com/gpu.present=true"
        ),
    ] = None,
    apply: Annotated[
        list[Path] | None,
        typer.Option(
            "--apply",
            help="Kubernetes objects the local cluster holds, as `kubectl apply -f FILE` makes"
            " them: Namespace (Pod Security label), ResourceQuota, LimitRange, RBAC,"
            " workflow-controller-configmap (executor); after the spec's `generate --rbac`",
        ),
    ] = None,
    image_users: Annotated[
        list[str] | None,
        typer.Option(
            "--image-user",
            help="the USER of an image (IMAGE=UID or IMAGE=NAME) for kubelet's runAsNonRoot"
            " check; images not known are taken as root",
        ),
    ] = None,
    time_scale: Annotated[
        float,
        typer.Option(
            min=0.0, help="factor on Argo's waits (retry backoff, grace periods): 30 s become 2 s"
        ),
    ] = 1 / 15,
    s3_give_up: Annotated[
        float,
        typer.Option(
            "--s3-give-up",
            min=1.0,
            help="seconds a silent S3 server is waited for before every pod is stopped",
        ),
    ] = localrun.S3_GIVE_UP,
    image_dirs: Annotated[
        list[str] | None,
        typer.Option(
            "--image-dir",
            help="IMAGE=DIR: DIR is part of that image's root (at its own path, first on PATH)",
        ),
    ] = None,
) -> None:
    """Execute the workflow document itself, pod by pod, against real S3 and FUSE mounts.

    Linux only, as root: each pod gets its own namespaces (util-linux unshare) and the
    buckets are FUSE mounts (/dev/fuse, fusermount3). Files are read from --data-dir:
    DIR/<bucket>/<key> are the objects of a local bucket.
    """
    if not local_mode:
        raise fail(
            "run executes on this machine only (--local); for a cluster use `oscar-batch submit`", 2
        )
    extra = list(overrides or [])
    if workers is not None:
        extra.append(f"planning.max_workers={workers}")
    if run_name is not None:
        layout.check_run(run_name)  # before anything is started or written
    is_set = bool(overrides) or workers is not None or skip_existing is not None
    doc = localrun.document(file, lambda p: load_spec(p, extra, skip_existing), is_set)
    console = Console(stderr=True, width=80 if not Console(stderr=True).is_terminal else None)
    tty = console.is_terminal

    def say(line: str) -> None:
        console.print(plain(line), markup=False, highlight=False, soft_wrap=True)

    say(
        "images cannot run here: each container runs its command on this machine, isolated"
        " in a root of its system folders and this Python (docs/run-local.md)"
    )
    if doc.notes:
        say(f"accepted, not enforced here: {', '.join(doc.notes)}")
    params = {"run": run_name} if run_name else {}
    if force:
        params["force"] = "true"
    if other_version:
        params["resume_other_version"] = "true"
    opts = localrun.Options(
        data_dir=data_dir,
        parameters=params,
        node_resources=_pairs(list(node_resources or []), "--node-resources"),
        node_labels=_pairs(list(node_labels or []), "--node-labels"),
        time_scale=time_scale,
        s3_give_up=s3_give_up,
        image_dirs=_image_dirs(list(image_dirs or [])),
        on_event=say if not tty or not output.people else (lambda line: None),
        on_start=say,
        show=_show(console) if tty and output.people else None,
        apply=list(apply or []),
        image_users=_pairs(list(image_users or []), "--image-user"),
    )
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        outcome = localrun.run(doc, opts)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    result, report = outcome.result, outcome.report

    def failed_pods() -> None:
        for node in result.nodes:
            if node.phase in ("Failed", "Error", "Pending") and node.pods:
                detail = f": {node.detail}" if node.detail else ""
                say(f"  {node.name}: {node.phase}: {node.message}{detail}")

    if output.data:
        failed_pods()
        print_data(
            {
                **(report or {}),
                "workflow": {"name": result.name, "phase": result.phase, "message": result.message},
            },
            output,
        )
    elif output is Format.name:
        failed_pods()
        typer.echo(result.name)
    else:
        if report:
            say(rundocs.summary_line(report))
            for problem in report.get("problems", [])[:20]:
                last = (problem.get("error") or "").strip().splitlines()[-1:] or [problem["reason"]]
                code = (
                    f" (exit {problem['exit_code']})"
                    if problem.get("exit_code") is not None
                    else ""
                )
                say(f"  {problem['status']}{code}: {problem['key']}: {last[0][:120]}")
        failed_pods()
        say(f"logs: {outcome.logs}")
        if outcome.report_file:
            say(f"report: {outcome.report_file}")
            page = Path(outcome.report_file).with_name("report.html")
            if page.is_file():  # what the Argo UI shows on the aggregate node
                say(f"page: {page}")
    if result.phase != "Succeeded":
        raise fail(
            f"workflow {result.name} {result.phase}: {result.message or 'see the logs above'}"
        )
    say(f"workflow {result.name}: Succeeded")
