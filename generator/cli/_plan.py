"""`oscar-batch plan`: how wide the run would be on this cluster, and why (writes nothing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from generator.bucket import identity, layout, runs
from generator.build import workerpod
from generator.cli._common import (
    Context,
    Kubeconfig,
    RunOpt,
    SetOpt,
    SpecArg,
    errors,
    load_spec,
    plain,
)
from generator.cli._output import Col, Format, FormatOpt, note, print_data, print_names, say
from generator.cli._output import table as print_table
from generator.cli._where import AliasOpt, DataDirOpt, EndpointOpt, output_store
from generator.clients import kube, s3
from generator.errors import OscarBatchError, SpecError
from generator.spec import model as spec_mod
from generator.spec import quantity
from generator.stages import capacity, estimate
from generator.stages import plan as planner
from generator.stages.capacity import PODS


def _cluster(
    cluster_from: list[Path] | None,
    oscar: str | None,
    user: str | None,
    password: str | None,
    token: str | None,
    namespace: str,
    kueue_queue: str | None,
    kubeconfig: str | None = None,
    context: str | None = None,
) -> kube.ClusterState:
    if cluster_from:
        return kube.from_snapshot(cluster_from)
    if oscar:
        return kube.from_oscar(oscar, user=user, password=password, token=token)
    return kube.from_api(kubeconfig, context, namespace=namespace, kueue_queue=kueue_queue)


def _estimate(
    batch: spec_mod.BatchSpec,
    plan: planner.Plan,
    where: tuple[str | None, str | None, Path | None],
) -> tuple[estimate.Estimate | None, str]:
    """The planned run's estimate from the latest finished run of the same service version
    (in the output bucket, or in a local run's folder), or why there is none."""
    endpoint, alias, data_dir = where
    try:
        store, name = output_store(batch, endpoint, data_dir, alias)
        done = [
            r for r in runs.list_runs(store, batch) if r.current and r.state in ("passed", "failed")
        ]
        report = None
        for r in reversed(done):  # the latest whose report says how long its files took
            data = store.read(layout.RunLayout.of(batch, r.run).report_json)
            report = json.loads(data) if data else None
            if isinstance(report, dict) and (report.get("attempt") or {}).get("processed"):
                break
            report = None
    except (OscarBatchError, ValueError, AttributeError) as exc:
        return None, f"no estimate: cannot read the runs ({exc})"
    if report is None:
        return None, (
            f"no estimate: no finished run of this service version in {name}; run a sample"
            " with `run --local --data-dir DIR` and plan again with `--data-dir DIR`"
        )
    requests = capacity.pod_requests(workerpod.pod_spec(batch))
    cpu = requests.get("cpu", 0) / 1000
    gpu = float(batch.service.gpu or 0)
    found = estimate.estimate(report, plan.pending, plan.workers, cpu, gpu)
    return found, "" if found else "no estimate: the latest run processed nothing"


def _estimate_line(guess: estimate.Estimate | None, why: str) -> str:
    if guess is None:
        return why
    hours = f"{guess.cpu_hours:.2f} CPU-hours" + (
        f", {guess.gpu_hours:.2f} GPU-hours" if guess.gpu_hours else ""
    )
    return (
        f"estimate: {guess.wall_seconds / 60:.1f} min wall, {hours} reserved by the workers"
        f" ({guess.file_seconds:.2f} s per file per worker + {guess.fixed_seconds:.0f} s fixed,"
        f" from {guess.source})"
    )


def _quota_table(plan: planner.Plan, fmt: Format) -> None:
    cols = (
        Col("quota", ident=True),
        Col("resource", ident=True),
        Col("left", right=True),
        Col("per pod", right=True),
        Col("fits", right=True),
    )
    rows = [
        [plain(q.source), plain(q.resource), q.shown(q.remaining), q.shown(q.per_pod), str(q.fits)]
        for q in plan.quotas
    ]
    print_table(cols, rows, fmt, title="Quotas (what is left / one worker pod)", section=True)


KEPT = {"cpu": 1, "memory": 2, "nvidia.com/gpu": 3}


def _table(plan: planner.Plan, fmt: Format) -> None:
    resources = [*sorted({r for n in plan.nodes for r in n.allocatable if r != PODS}), PODS]
    cols = (
        Col("node", ident=True),
        # left out first when narrow: the resources a batch rarely runs short of
        *(Col(r, right=True, drop=KEPT.get(r, len(KEPT) + 1)) for r in resources),
        Col("fits", right=True),
        Col("limited by", fold=True),
    )
    rows = [
        [
            plain(n.name),
            *(
                " / ".join(
                    quantity.format_milli(r, amounts.get(r, 0))
                    for amounts in (n.allocatable, n.used, n.free)
                )
                for r in resources
            ),
            str(n.fits),
            plain(n.excluded or n.bottleneck or ""),
        ]
        for n in plan.nodes
    ]
    print_table(cols, rows, fmt, title=plain(f"Capacity ({plan.cluster_source})"), section=True)
    note(
        "per resource: allocatable / used by running pods' requests / free for the batch"
        " (after headroom)"
    )
    if plan.quotas:
        _quota_table(plan, fmt)
    shard_cols = (Col("shard", ident=True), Col("files", right=True), Col("bytes", right=True))
    shard_rows = [[s.id, str(len(s.members)), f"{s.bytes:,}"] for s in plan.shards]
    print_table(shard_cols, shard_rows, fmt, title=f"{plan.workers} shard(s)", section=True)
    say(
        plain(
            f"{plan.reason}: {plan.pending} of {plan.files} files to process"
            + (f", {len(plan.rejected)} unsupported keys" if plan.rejected else "")
        )
    )


@errors
def plan(
    spec: SpecArg,
    cluster_from: Annotated[
        list[Path] | None,
        typer.Option(
            "--cluster-from",
            help="`kubectl get nodes,pods -A -o json` output (repeatable); also"
            " resourcequotas, localqueues and clusterqueues of the namespace",
        ),
    ] = None,
    objects_from: Annotated[
        Path | None,
        typer.Option(
            "--objects-from", help="JSON lines with key and size (`mc ls --recursive --json`)"
        ),
    ] = None,
    headroom: Annotated[
        float | None, typer.Option(help="fraction of free resources to use (0-1]")
    ] = None,
    run: RunOpt = None,
    oscar: Annotated[
        str | None, typer.Option(help="read capacity from an OSCAR cluster's /system/status")
    ] = None,
    oscar_user: Annotated[
        str | None, typer.Option(envvar="OSCAR_USER", help="OSCAR basic-auth user")
    ] = None,
    oscar_password: Annotated[
        str | None,
        typer.Option(envvar="OSCAR_PASSWORD", help="OSCAR basic-auth password", show_default=False),
    ] = None,
    oscar_token: Annotated[
        str | None,
        typer.Option(envvar="OSCAR_TOKEN", help="OSCAR bearer token", show_default=False),
    ] = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace", "-n", help="whose quotas count (else the spec's argo.namespace)"
        ),
    ] = None,
    endpoint: EndpointOpt = None,
    alias: AliasOpt = None,
    data_dir: DataDirOpt = None,
    output: FormatOpt = Format.table,
    overrides: SetOpt = None,
) -> None:
    """Size the fan-out from the cluster's free resources and shard the files (a dry run);
    estimate its wall time and CPU/GPU-hours from the latest run of the same service version
    (in the output bucket, or with --data-dir in a local run's folder, e.g. a sample's)."""
    extra = list(overrides or [])
    if headroom is not None:
        extra.append(f"planning.headroom={headroom}")
    batch = load_spec(spec, extra, run=run)
    state = _cluster(
        cluster_from,
        oscar,
        oscar_user,
        oscar_password,
        oscar_token,
        namespace or batch.argo.namespace,
        batch.planning.kueue_queue,
        kubeconfig,
        context,
    )
    run = run or identity.default_run(batch)
    if objects_from is not None:
        objects = planner.listing_keys(batch, planner.read_objects_file(objects_from))
        result = planner.run_plan(None, batch, run, state, objects, write=False)
    else:
        if not batch.input.endpoint:
            raise SpecError(
                f"{spec}: input.endpoint is needed to list the bucket (or use --objects-from)"
            )
        client = s3.client_from_env(batch.input.endpoint, batch.input.region)
        result = planner.run_plan(client, batch, run, state, write=False)
    if output is Format.name:
        print_names(s.id for s in result.shards)
        return
    guess, why = _estimate(batch, result, (endpoint, alias, data_dir))
    if output in (Format.json, Format.yaml):
        print_data({**result.summary(), "estimate": guess.to_json() if guess else why}, output)
    else:
        _table(result, output)
        say(plain(_estimate_line(guess, why)))
