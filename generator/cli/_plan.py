"""`oscar-batch plan`: how wide the run would be on this cluster, and why (writes nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from generator.bucket import identity
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
from generator.clients import kube, s3
from generator.errors import SpecError
from generator.spec import quantity
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
    output: FormatOpt = Format.table,
    overrides: SetOpt = None,
) -> None:
    """Size the fan-out from the cluster's free resources and shard the files (a dry run)."""
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
    if output in (Format.json, Format.yaml):
        print_data(result.summary(), output)
    elif output is Format.name:
        print_names(s.id for s in result.shards)
    else:
        _table(result, output)
