"""`oscar-batch stage plan|aggregate`: entry points of the workflow's plan and aggregate pods."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from generator.bucket import layout, lock, rundocs
from generator.cli._common import errors, fail, s3_client
from generator.clients import kube, s3
from generator.errors import OscarBatchError, SpecError
from generator.spec import model as spec_mod

# Each stage imports its own module in its command: a pod runs one stage, and the other's
# imports (~0.1 s) are not its to pay.

app = typer.Typer(help="Pod entry points of the generated workflow (not for people).", hidden=True)

# Kubernetes shows this file's text as the failed container's message, and Argo puts it in
# the node's message in the UI (workflow/controller/operator.go, inferFailedReason). It exists
# only in a pod (the kubelet mounts it); elsewhere nothing is written.
TERMINATION_LOG = Path("/dev/termination-log")


def _termination_message(path: Path, message: str) -> None:
    if path.exists():
        path.write_text(message[-4096:], encoding="utf-8")


SpecJson = Annotated[
    Path, typer.Option("--spec", help="the resolved spec JSON the workflow carries")
]
Run = Annotated[str, typer.Option("--run", help="run name")]
WorkflowUid = Annotated[
    str, typer.Option("--workflow-uid", help="the Argo workflow's uid: the run lock's holder")
]


def _load(path: Path) -> spec_mod.BatchSpec:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path}: cannot read the spec: {exc}") from None
    return spec_mod.validate(data, str(path))


@app.command("plan")
@errors
def plan_stage(
    spec: SpecJson,
    run: Run,
    shards_out: Annotated[Path, typer.Option(help="where Argo reads the shard id list from")],
    cluster_from: Annotated[
        list[Path] | None, typer.Option(help="snapshot instead of the live API")
    ] = None,
    termination_log: Annotated[
        Path, typer.Option(help="where Kubernetes reads a failed container's message")
    ] = TERMINATION_LOG,
    force: Annotated[
        str,
        typer.Option(
            help="true/false (the workflow's `force` parameter): take over the run's lock"
        ),
    ] = "false",
    resume_other_version: Annotated[
        str,
        typer.Option(
            help="true/false (the workflow's `resume_other_version` parameter): resume a run"
            " another service version began"
        ),
    ] = "false",
    workflow_uid: WorkflowUid = "",
) -> None:
    """List, size, shard and write the manifests; print the shard ids as JSON."""
    for name, value in (("--force", force), ("--resume-other-version", resume_other_version)):
        if value not in ("true", "false"):
            raise fail(f"{name} takes true or false, not {value!r}", 2)
    from generator.stages import plan as planner

    layout.check_run(run)  # first: the workers' paths are built from it
    batch = _load(spec)

    def read() -> kube.ClusterState:
        if cluster_from:
            return kube.from_snapshot(cluster_from)
        return kube.from_api(namespace=batch.argo.namespace, kueue_queue=batch.planning.kueue_queue)

    waiting = planner.Waiting(
        read, lambda line: typer.echo(line, err=True), batch.planning.wait_for_room
    )
    try:
        client = s3_client(batch)
        where = layout.RunLayout.of(batch, run)
        resumed = s3.get_optional(client, where.bucket, where.plan) is not None
        result = planner.run_plan(
            client,
            batch,
            run,
            read,
            waiting=waiting,
            force=force == "true",
            resume_other_version=resume_other_version == "true",
            workflow=workflow_uid,
        )
    except OscarBatchError as exc:
        _termination_message(termination_log, str(exc))
        raise
    ids = json.dumps([s.id for s in result.shards])
    shards_out.parent.mkdir(parents=True, exist_ok=True)
    shards_out.write_text(ids, encoding="utf-8")
    typer.echo(planner.start_line(result, resumed), err=True)
    typer.echo(ids)


@app.command("aggregate")
@errors
def aggregate_stage(
    spec: SpecJson,
    run: Run,
    outputs_dir: Annotated[
        Path | None, typer.Option(help="write Argo output parameters here")
    ] = None,
    workflow_uid: WorkflowUid = "",
) -> None:
    """Account for every planned file, write report.json/report.csv, fail past max_failed_ratio."""
    from generator.stages import aggregate

    batch = _load(spec)
    report = aggregate.run_aggregate(
        s3_client(batch), batch, run, outputs_dir, workflow_uid, lambda s: typer.echo(s, err=True)
    )
    typer.echo(rundocs.summary_line(report))
    if not report["passed"]:
        raise fail(
            f"{report['failed_ratio']:.2%} of files failed or are missing; the spec allows"
            f" {batch.failure.max_failed_ratio:.2%}"
        )


@app.command("release")
@errors
def release_stage(spec: SpecJson, run: Run, workflow_uid: WorkflowUid = "") -> None:
    """Remove the run's lock if this workflow holds it (the workflow's exit handler)."""
    batch = _load(spec)
    if lock.release_if_mine(s3_client(batch), batch, run, workflow_uid):
        typer.echo(f"run {run}: not locked by another workflow")
    else:
        typer.echo(f"run {run}: locked by another workflow, left alone")
