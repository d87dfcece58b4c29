"""Build the Argo Workflow (or WorkflowTemplate / CronWorkflow) of a batch spec with Hera.

plan -> work (fan-out over the plan's shard ids) -> aggregate. Only shard ids travel through
Argo parameters; file lists stay in the bucket (the workflow object lives in etcd).
"""

from __future__ import annotations

import json
from typing import Any

from hera.workflows import (
    DAG,
    Container,
    CronWorkflow,
    Env,
    Parameter,
    RawArtifact,
    SecretEnv,
    Task,
    UserContainer,
    Workflow,
    WorkflowTemplate,
)
from hera.workflows import models as m

from generator import __version__, identity, rclone, runner, storage, workerpod
from generator.aggregate import OUTPUT_PARAMETERS
from generator.spec import BatchSpec

RUN = "{{workflow.parameters.run}}"
SHARD = "{{inputs.parameters.shard}}"
SPEC_PATH = "/etc/oscar-batch/spec.json"
SCRIPT_PATH = "/etc/oscar-batch/script.sh"
OUT_DIR = "/tmp/oscar-batch"
MNT = "/mnt"
# The aggregate runs whatever became of the workers, so every file is accounted for; Argo
# rejects `continueOn` beside `depends`, so the condition names both outcomes.
AGGREGATE_DEPENDS = "work.AnySucceeded || work.AllFailed"


def _s3_env(spec: BatchSpec, access: str, secret: str) -> list[Env | SecretEnv]:
    """S3 credentials come from the Secret only: the YAML names it, never its values."""
    return [
        SecretEnv(
            name=access, secret_name=spec.input.credentials_secret, secret_key="AWS_ACCESS_KEY_ID"
        ),
        SecretEnv(
            name=secret,
            secret_name=spec.input.credentials_secret,
            secret_key="AWS_SECRET_ACCESS_KEY",
        ),
    ]


def endpoint(spec: BatchSpec) -> str:
    """The in-cluster endpoint: the spec's, or OSCAR's default MinIO service."""
    return spec.input.endpoint or "http://minio.minio:9000"


def _mount_sidecar(spec: BatchSpec, index: int, bucket: str) -> UserContainer:
    """rclone mount of one bucket, with OSCAR's flags and no VFS write cache.

    Writes stream through (`--vfs-cache-mode off`), so an output exists in S3 when the
    runner's `cp` returns: the sidecar is killed right after the main container exits.
    rclone runs in the foreground and unmounts itself on SIGTERM.
    """
    point = runner.mount_point(MNT, bucket)
    return UserContainer(
        name=f"mount-{index}",
        image=spec.argo.rclone_image,
        command=["rclone"],
        args=rclone.mount_args(bucket, point),
        env=[
            *(Env(name=k, value=v) for k, v in rclone.remote_env(endpoint(spec)).items()),
            *_s3_env(spec, *rclone.KEY_ENV),
        ],
        resources=m.ResourceRequirements(**workerpod.sidecar_resources(spec)),
        security_context=m.SecurityContext(privileged=True),
        volume_mounts=[
            m.VolumeMount(
                name=f"bucket-{index}", mount_path=point, mount_propagation="Bidirectional"
            )
        ],
    )


def _stage(spec: BatchSpec, stage: str, args: list[str], outputs: list[Parameter]) -> Container:
    """A plan/aggregate container: this package's runtime image, the spec as a raw artifact."""
    return Container(
        name=stage,
        image=spec.argo.runtime_image,
        command=["oscar-batch", "stage", stage, "--spec", SPEC_PATH, "--run", RUN, *args],
        inputs=[
            RawArtifact(
                name="spec",
                path=SPEC_PATH,
                data=json.dumps(spec.model_dump(mode="json"), indent=1, sort_keys=True),
            )
        ],
        outputs=outputs,
        env=[
            Env(name=storage.ENDPOINT_ENV, value=endpoint(spec)),
            *_s3_env(spec, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        ],
        resources=m.ResourceRequirements(
            requests={"cpu": "250m", "memory": "512Mi"}, limits={"memory": "1Gi"}
        ),
        security_context=m.SecurityContext(
            run_as_non_root=True, allow_privilege_escalation=False, read_only_root_filesystem=False
        ),
    )


def _worker(spec: BatchSpec) -> Container:
    env = runner.environment(spec, mnt_root=MNT, run=RUN, shard=SHARD, script=SCRIPT_PATH)
    secret_env = [
        SecretEnv(name=n, secret_name=spec.service.secret_name, secret_key=n)
        for n in spec.service.secret_env
    ]
    volumes = [
        m.Volume(name=f"bucket-{i}", empty_dir=m.EmptyDirVolumeSource())
        for i, _ in enumerate(spec.buckets)
    ]
    return Container(
        name="worker",
        image=spec.service.image,
        command=[
            "sh",
            "-c",
            runner.render(runner.mount_point(MNT, b) for b in spec.buckets),
            "oscar-batch-runner",
        ],
        inputs=[
            Parameter(name="shard"),
            RawArtifact(name="script", path=SCRIPT_PATH, mode=0o755, data=spec.service.script),
        ],
        env=[*(Env(name=k, value=v) for k, v in sorted(env.items())), *secret_env],
        resources=m.ResourceRequirements(**workerpod.service_resources(spec)),
        volumes=volumes,
        volume_mounts=[
            m.VolumeMount(
                name=f"bucket-{i}",
                mount_path=runner.mount_point(MNT, b),
                mount_propagation="HostToContainer",
            )
            for i, b in enumerate(spec.buckets)
        ],
        sidecars=[_mount_sidecar(spec, i, b) for i, b in enumerate(spec.buckets)],
        retry_strategy=m.RetryStrategy(
            limit=m.IntOrString(spec.argo.retries),
            retry_policy="Always",
            backoff=m.Backoff(duration="30s", factor=m.IntOrString(2), max_duration="30m"),
        ),
        active_deadline_seconds=spec.worker.pod_timeout,
        node_selector=dict(spec.planning.node_selector) or None,
        tolerations=[
            m.Toleration(**t.model_dump(exclude_none=True)) for t in spec.planning.tolerations
        ]
        or None,
    )


def _metadata(spec: BatchSpec) -> dict[str, Any]:
    source = f"s3://{spec.input.bucket}/{spec.input.prefix}"
    target = f"s3://{spec.output_bucket}/{spec.output.prefix}<run>/"
    return {
        "annotations": {
            "workflows.argoproj.io/title": f"{spec.service.name} over {source}",
            "workflows.argoproj.io/description": (
                f"oscar-batch {__version__}: runs OSCAR service {spec.service.name}"
                f" ({spec.service.image}) on every file of {source} matching"
                f" {', '.join(spec.input.include)}; results and report in {target}"
            ),
        },
        "labels": {
            "oscar-batch/spec": spec.name,
            "oscar-batch/service": spec.service.name,
            "app.kubernetes.io/managed-by": "oscar-batch",
        },
    }


def build(spec: BatchSpec) -> Workflow:
    """The Hera workflow object of a spec (kind chosen by `argo.kind`)."""
    kind: type[Workflow] = {
        "Workflow": Workflow,
        "WorkflowTemplate": WorkflowTemplate,
        "CronWorkflow": CronWorkflow,
    }[spec.argo.kind]
    naming: dict[str, Any] = (
        {"generate_name": f"{spec.name}-"} if spec.argo.kind == "Workflow" else {"name": spec.name}
    )
    extra: dict[str, Any] = (
        {"schedules": [spec.argo.schedule]} if spec.argo.kind == "CronWorkflow" else {}
    )
    with kind(
        **naming,
        **extra,
        namespace=spec.argo.namespace,
        entrypoint="main",
        service_account_name=spec.argo.service_account,
        arguments=[
            Parameter(
                name="run",
                value=identity.default_run(spec),
                description="run name: a new name starts over, the same name resumes",
            ),
            Parameter(
                name="force",
                value="false",
                description="true: resume a run made by another service version, or held by"
                " a run that is gone (its lock)",
            ),
        ],
        # a static cap: the plan never fans out wider than max_workers, plus plan and aggregate
        parallelism=spec.planning.max_workers + 2,
        pod_gc=m.PodGC(strategy="OnPodSuccess"),
        ttl_strategy=m.TTLStrategy(seconds_after_success=86400, seconds_after_failure=604800),
        pod_metadata=m.Metadata(labels={"oscar-batch/spec": spec.name, "oscar-batch/run": RUN}),
        **_metadata(spec),
    ) as wf:
        plan = _stage(
            spec,
            "plan",
            ["--shards-out", f"{OUT_DIR}/shards.json", "--force", "{{workflow.parameters.force}}"],
            [Parameter(name="shards", value_from=m.ValueFrom(path=f"{OUT_DIR}/shards.json"))],
        )
        aggregate_step = _stage(
            spec,
            "aggregate",
            ["--outputs-dir", OUT_DIR],
            [
                Parameter(name=n, value_from=m.ValueFrom(path=f"{OUT_DIR}/{n}", default=""))
                for n in OUTPUT_PARAMETERS
            ],
        )
        worker = _worker(spec)
        with DAG(name="main"):
            Task(name="plan", template=plan)
            Task(
                name="work",
                template=worker,
                depends="plan",
                with_param="{{tasks.plan.outputs.parameters.shards}}",
                arguments={"shard": "{{item}}"},
            )
            Task(name="aggregate", template=aggregate_step, depends=AGGREGATE_DEPENDS)
    return wf


def to_yaml(spec: BatchSpec) -> str:
    """The workflow as YAML: same spec, same bytes."""
    text: str = build(spec).to_yaml()
    return text
