"""Build the Argo Workflow (or WorkflowTemplate / CronWorkflow) of a batch spec with Hera.

plan -> work (fan-out over the plan's shard ids) -> aggregate. Only shard ids travel through
Argo parameters; file lists stay in the bucket (the workflow object lives in etcd).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from hera.workflows import (
    DAG,
    Container,
    CronWorkflow,
    Env,
    Gauge,
    Label,
    NoneArchiveStrategy,
    Parameter,
    RawArtifact,
    S3Artifact,
    SecretEnv,
    Task,
    UserContainer,
    Workflow,
    WorkflowTemplate,
)
from hera.workflows import models as m

from generator import __version__
from generator.bucket import identity, layout
from generator.build import rbac, runner_script, sidecar, summary, workerpod
from generator.clients import s3
from generator.errors import SpecError
from generator.spec.model import BatchSpec

RUN = "{{workflow.parameters.run}}"
# A CronWorkflow's night: the UTC date its workflow was created (operator.go
# setGlobalParameters: workflow.creationTimestamp.<strftime letter>)
NIGHT = "".join(f"{{{{workflow.creationTimestamp.{letter}}}}}" for letter in "Ymd")
SHARD = "{{inputs.parameters.shard}}"
FORCE = "{{workflow.parameters.force}}"
OTHER_VERSION = "{{workflow.parameters.resume_other_version}}"
UID = "{{workflow.uid}}"  # the run lock's holder: the workflow, whichever pod retries
STATUS = "{{workflow.status}}"  # the exit handler's: how the workflow ended
SPEC_PATH = "/etc/oscar-batch/spec.json"
# OSCAR's path of the script (oscar pkg/types/service.go ConfigPath, ScriptFileName): its $0
SCRIPT_PATH = "/oscar/config/script.sh"
OUT_DIR = "/tmp/oscar-batch"
MNT = "/mnt"
STAGE_RETRIES = 3
STAGE_RETRY_EXPRESSION = "lastRetry.status == 'Error' || lastRetry.exitCode == '137'"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
# The aggregate runs whatever became of the workers, so every file is accounted for. Argo
# rejects `continueOn` beside `depends`, so the condition names every finished outcome. A
# withParam task is a TaskGroup whose phase is Succeeded unless a child Failed or Errored,
# then that child's phase (workflow/controller/dag.go, executeDAGTask); `AnySucceeded ||
# AllFailed` (evaluateDependsLogic) is false when none succeeded and one ended Error. Omitted
# and Skipped (the plan failed) are left out: without a plan there is nothing to report.
AGGREGATE_DEPENDS = "work.Succeeded || work.Failed || work.Errored"


def _literal(words: list[str]) -> list[str]:
    """Command words or env values Kubernetes hands over unchanged.

    The kubelet expands `$(NAME)` and turns `$$` into `$` in env values, command and args
    (k8s.io/kubernetes third_party/forked/golang/expansion, Expand); with every `$` doubled,
    each `$$` becomes the one `$` written and nothing else is touched.
    """
    return [w.replace("$", "$$") for w in words]


def _shell(script: str, name: str) -> list[str]:
    """A worker container's command: `script` run by the image's sh as `name` ($0)."""
    return _literal(["sh", "-c", script, name])


def _env(values: dict[str, str]) -> list[Env]:
    literal = _literal(list(values.values()))
    return [Env(name=k, value=v) for k, v in zip(values, literal, strict=True)]


def _inert_json(data: Any) -> str:
    """JSON that Argo's `{{...}}` substitution leaves alone and that decodes to `data`.

    Argo replaces `{{tag}}` in a template's JSON text before the pod starts
    (util/template/simple_template.go); here `{{` can only sit inside a JSON string, where
    `\u007b` is the same `{`.
    """
    return json.dumps(data, indent=1, sort_keys=True).replace("{{", "{\\u007b")


# What the aggregate's metrics read: its own output parameters (validate.go allows a template
# to reference its `outputs.` for metric emission; docs/variables.md, "Metrics").
METRIC_TAGS = tuple(f"{{{{outputs.parameters.{n}}}}}" for n in layout.OUTPUT_PARAMETERS)
# The only `{{...}}` the generated workflow may carry: Argo fills exactly these.
ARGO_TAGS = (
    RUN,
    NIGHT,
    SHARD,
    FORCE,
    OTHER_VERSION,
    UID,
    STATUS,
    "{{tasks.plan.outputs.parameters.shards}}",
    "{{item}}",
    *METRIC_TAGS,
)


def run_name(spec: BatchSpec) -> str:
    """The run every template names: the `run` parameter, or for a CronWorkflow one run per
    night, `<default run>-<YYYYMMDD>`. A nightly run is a new run folder: objects uploaded
    again under a known key are processed again, and a night never resumes another night's
    run (a manual `argo submit --from cronwf/...` the same day resumes that day's)."""
    if spec.argo.kind == "CronWorkflow":
        return f"{identity.default_run(spec)}-{NIGHT}"
    return RUN


def _refuse_foreign_tags(node: Any, path: str = "") -> None:
    """Refuse a spec value Argo would substitute (`{{...}}` in the script or an env value).

    Raises:
        SpecError: naming the spec field.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            _refuse_foreign_tags(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            named = value.get("name") if isinstance(value, dict) else None
            _refuse_foreign_tags(value, f"{path}[{named or i}]")
    elif isinstance(node, str):
        rest = node
        for tag in ARGO_TAGS:
            rest = rest.replace(tag, "")
        if "{{" in rest:
            where = "service.script" if "artifacts[script]" in path else path.lstrip(".")
            env = re.search(r"\.env\[(\w+)\]", path)
            where = f"the environment variable {env.group(1)}" if env else where
            raise SpecError(
                f"{where} contains '{{{{', which Argo substitutes before the pod starts:"
                " the pod would not run what was reviewed; write it another way"
            )


def version(spec: BatchSpec) -> tuple[int, int]:
    """The targeted Argo release as a comparable (major, minor)."""
    major, minor = spec.argo.version.split(".")
    return int(major), int(minor)


def retry(
    spec: BatchSpec,
    limit: int,
    first: str,
    cap: str,
    policy: str = "Always",
    expression: str | None = None,
) -> m.RetryStrategy:
    """Retry (on `policy`), waiting `first`, doubling, never more than `cap` between tries.

    No `maxDuration`: it counts from the first attempt's start and becomes every retry pod's
    deadline (workflow/controller/operator.go, processNodeRetries: maxDurationDeadline ->
    opts.executionDeadline), so a shard running longer is never retried and a retry is cut
    short. `Backoff.cap` bounds one wait only and exists from v3.7
    (pkg/apis/workflow/v1alpha1/workflow_types.go); before it, every wait is `first`.
    """
    backoff = (
        m.Backoff(duration=first, factor=m.IntOrString(2), cap=cap)
        if version(spec) >= (3, 7)
        else m.Backoff(duration=first, factor=m.IntOrString(1))
    )
    return m.RetryStrategy(
        limit=m.IntOrString(limit), retry_policy=policy, backoff=backoff, expression=expression
    )


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


def _mount_sidecar(spec: BatchSpec, index: int, mount: workerpod.Mount) -> UserContainer:
    """rclone mount of one bucket, with OSCAR's flags and no VFS write cache.

    Writes stream through (`--vfs-cache-mode off`), so an output exists in S3 when the
    runner's `cp` returns: the sidecar is killed right after the main container exits.
    A small shell around rclone unmounts on every exit (`sidecar.SIDECAR_SCRIPT`).
    """
    return UserContainer(
        name=f"mount-{index}",
        image=spec.argo.rclone_image,
        command=_literal(sidecar.sidecar_command(mount.remote, mount.point, mount.read_only)),
        env=[
            *_env(sidecar.remote_env(endpoint(spec))),
            *_s3_env(spec, *sidecar.KEY_ENV),
        ],
        resources=m.ResourceRequirements(**workerpod.sidecar_resources(spec)),
        security_context=m.SecurityContext(privileged=True),
        volume_mounts=[
            m.VolumeMount(
                name=f"bucket-{index}", mount_path=mount.point, mount_propagation="Bidirectional"
            )
        ],
    )


def _report_artifacts(spec: BatchSpec) -> list[S3Artifact]:
    """report.html and report.json as the aggregate's output artifacts, at the run's own keys.

    Each names its location in full (bucket, endpoint, key, the spec's Secret), so it needs
    no artifact repository; Argo's wait container uploads it whatever the aggregate's exit
    code (cmd/argoexec/commands/wait.go), a missing file is skipped when `optional`
    (executor.go, saveArtifact: the aggregate may stop before writing it), and the file's
    name keeps its MIME type (stageArchiveFile). The UI shows an artifact inline only when
    it is not a tgz (`archive.none`) and its key ends in .html/.json (artifact-panel.tsx).
    """
    url = urlsplit(endpoint(spec))
    # the run's folder as RunLayout has it, with the run left to Argo (the aggregate checks it)
    where = layout.RunLayout(spec.output_bucket, f"{spec.output.prefix}{run_name(spec)}/")
    keys = {
        "report.html": where.report_html,
        "report.json": where.report_json,
        "compare.html": where.compare_html,
    }
    secret = spec.input.credentials_secret
    return [
        S3Artifact(
            name=name,
            path=f"{OUT_DIR}/{file}",
            endpoint=url.netloc,
            insecure=url.scheme == "http",
            bucket=where.bucket,
            key=keys[file],
            access_key_secret=m.SecretKeySelector(name=secret, key="AWS_ACCESS_KEY_ID"),
            secret_key_secret=m.SecretKeySelector(name=secret, key="AWS_SECRET_ACCESS_KEY"),
            archive=NoneArchiveStrategy(),
            optional=True,
        )
        for name, file in layout.OUTPUT_ARTIFACTS
    ]


def _report_metrics(spec: BatchSpec) -> list[Gauge]:
    """The run's figures as Prometheus gauges, emitted by Argo's controller when the aggregate
    ends (exported as `argo_workflows_<name>`; docs/workflow-telemetry.md, "Custom metrics").

    Only when the aggregate wrote its outputs (`when`): an empty value cannot be emitted and
    would mark the workflow with a metrics error. One series per service and run.
    """
    labels = [Label(key="service", value=spec.service.name), Label(key="run", value=run_name(spec))]
    wrote = "'{{outputs.parameters.succeeded}}' != ''"

    def gauge(name: str, help_: str, parameter: str, *extra: Label) -> Gauge:
        return Gauge(
            name=name,
            help=help_,
            labels=[*labels, *extra],
            value=f"{{{{outputs.parameters.{parameter}}}}}",
            realtime=False,
            when=wrote,
        )

    files = "Files of an oscar-batch run by outcome (missing counts unsupported ones)"
    return [
        *(
            gauge("oscar_batch_files", files, status, Label(key="status", value=status))
            for status in ("succeeded", "failed", "missing")
        ),
        gauge(
            "oscar_batch_files_per_second",
            "Files an oscar-batch run processed per second of its latest attempt",
            "files_per_second",
        ),
        gauge(
            "oscar_batch_wall_seconds",
            "Seconds from an oscar-batch run's latest plan to its aggregate",
            "wall_seconds",
        ),
    ]


def _stage(
    spec: BatchSpec,
    stage: str,
    args: list[str],
    outputs: list[Parameter | S3Artifact],
    account: str,
    metrics: list[Gauge] | None = None,
) -> Container:
    """A plan/aggregate container: this package's runtime image, the spec as a raw artifact
    (without the script's text, which only the worker runs: the YAML holds it once)."""
    return Container(
        name=stage,
        image=spec.argo.runtime_image,
        command=_literal(
            ["oscar-batch", "stage", stage, "--spec", SPEC_PATH, "--run", run_name(spec), *args]
        ),
        inputs=[
            RawArtifact(
                name="spec",
                path=SPEC_PATH,
                data=_inert_json(spec.for_stages().model_dump(mode="json")),
            )
        ],
        outputs=outputs,
        metrics=metrics,
        env=[
            *_env({s3.ENDPOINT_ENV: endpoint(spec)}),
            *_s3_env(spec, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        ],
        resources=m.ResourceRequirements(**workerpod.STAGE_RESOURCES),
        # Pod Security "restricted" (pod-security-standards): non-root, RuntimeDefault seccomp,
        # no escalation, no capabilities. The pod-level part also applies to Argo's init and
        # wait containers, whose argoexec image has no USER (root): runAsNonRoot alone makes
        # the kubelet refuse them (kuberuntime verifyRunAsNonRoot) and the pod never starts,
        # so the uid is given. Escalation and capabilities exist per container only: Argo's
        # take them from the controller's executor.securityContext (docs/argo.md).
        pod_security_context=m.PodSecurityContext(
            run_as_non_root=True,
            run_as_user=workerpod.RUNTIME_UID,
            seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
        ),
        security_context=m.SecurityContext(
            run_as_non_root=True,
            allow_privilege_escalation=False,
            capabilities=m.Capabilities(drop=["ALL"]),
            seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
        ),
        service_account_name=account,
        # A stage's non-zero exit is a verdict a retry would repeat (a refused run, too many
        # failed files); transient S3/API errors are retried inside, by the clients
        # (s3.make_client). What is left for Argo is a pod that ended in Error (deleted,
        # evicted, node lost) and one killed (exit 137: OOM-killed, or SIGKILL), which Argo
        # marks Failed, not Error: a killed aggregate left the lock and no report. The
        # expression retries exactly those (operator.go processNodeRetries: policy, then
        # limit, then the expression over buildRetryStrategyLocalScope's strings).
        retry_strategy=retry(spec, STAGE_RETRIES, "10s", "1m", expression=STAGE_RETRY_EXPRESSION),
    )


def _service(spec: BatchSpec, mounts: list[workerpod.Mount]) -> UserContainer:
    """The container the service script runs in (templates/service.sh.j2): the service's image,
    resources, environment, secrets, working folder, FDL `mount` and volume, and no mount of
    the run's folder. Argo starts a sidecar with main and, once main has ended, its emissary
    kills it (cmd/argoexec/commands/emissary.go: em.Wait for the main containers, em.Kill)."""
    env = runner_script.service_environment(spec, shard=SHARD)
    secret_env = [
        SecretEnv(name=n, secret_name=spec.service.secret_name, secret_key=n)
        for n in spec.service.secret_env
    ]
    volume_mounts = _mounts(mounts, runner=False)
    if spec.service.volume:  # OSCAR's managed volume (oscar pkg/types/service.go: ToPodSpec)
        volume_mounts.append(
            m.VolumeMount(name="service-volume", mount_path=spec.service.volume.mount_path)
        )
    return UserContainer(
        name="service",
        image=spec.service.image,
        command=_shell(
            runner_script.render_service(mount.point for mount in mounts if mount.service),
            "oscar-batch-service",
        ),
        env=[*_env(dict(sorted(env.items()))), *secret_env],
        resources=m.ResourceRequirements(**workerpod.service_resources(spec)),
        working_dir=spec.service.workdir,
        volume_mounts=volume_mounts,
    )


# the pod's own folders: (volume, path in the runner's container, path in the service's,
# read-only in the runner's); see workerpod.CTL_DIR
FOLDERS = (
    ("oscar-batch-ctl", workerpod.CTL_DIR, workerpod.CTL_DIR, False),
    ("oscar-batch-work", workerpod.WORK_DIR, workerpod.WORK_DIR, True),
    ("oscar-batch-config", workerpod.CONFIG_DIR, workerpod.SERVICE_CONFIG_DIR, False),
)


def _mounts(mounts: list[workerpod.Mount], *, runner: bool) -> list[m.VolumeMount]:
    """What the runner's container (else the service's) mounts: the pod's own folders (what
    one writes, the other reads) and the bucket mounts that are its."""
    return [
        *[
            m.VolumeMount(
                name=name,
                mount_path=ours if runner else theirs,
                read_only=(read_only if runner else not read_only) or None,
            )
            for name, ours, theirs, read_only in FOLDERS
        ],
        *[
            m.VolumeMount(
                name=f"bucket-{i}", mount_path=mount.point, mount_propagation="HostToContainer"
            )
            for i, mount in enumerate(mounts)
            if (mount.runner if runner else mount.service)
        ],
    ]


def _worker(spec: BatchSpec) -> Container:
    env = runner_script.environment(
        spec, mnt_root=MNT, run=run_name(spec), shard=SHARD, script=SCRIPT_PATH
    )
    mounts = workerpod.mounts(spec, MNT, run_name(spec))
    volumes = [
        m.Volume(name=f"bucket-{i}", empty_dir=m.EmptyDirVolumeSource())
        for i, _ in enumerate(mounts)
    ]
    volumes += [m.Volume(name=name, empty_dir=m.EmptyDirVolumeSource()) for name, *_ in FOLDERS]
    volume_mounts = _mounts(mounts, runner=True)
    if spec.service.volume:  # OSCAR's managed volume (oscar pkg/types/service.go: ToPodSpec)
        claim = m.PersistentVolumeClaimVolumeSource(claim_name=spec.service.volume.claim)
        volumes.append(m.Volume(name="service-volume", persistent_volume_claim=claim))
    return Container(
        name="worker",
        image=spec.service.image,
        command=_shell(
            runner_script.render(mount.point for mount in mounts if mount.runner),
            "oscar-batch-runner",
        ),
        inputs=[
            Parameter(name="shard"),
            RawArtifact(name="script", path=SCRIPT_PATH, mode=0o755, data=spec.service.script),
        ],
        env=_env(dict(sorted(env.items()))),
        resources=m.ResourceRequirements(**workerpod.RUNNER_RESOURCES),
        volumes=volumes,
        volume_mounts=volume_mounts,
        sidecars=[
            _service(spec, mounts),
            *[_mount_sidecar(spec, i, mount) for i, mount in enumerate(mounts)],
        ],
        retry_strategy=retry(spec, spec.argo.retries, "30s", "10m"),
        active_deadline_seconds=spec.worker.pod_timeout,
        # Kueue's pod integration admits a labelled pod against the LocalQueue's quota
        labels={KUEUE_QUEUE_LABEL: spec.planning.kueue_queue}
        if spec.planning.kueue_queue
        else None,
        # The service image and the privileged sidecar get no API token; only Argo's wait and
        # init containers get the executor account's, which Argo mounts when this is false
        # (workflow/controller/workflowpod.go, setupServiceAccount: it then requires
        # executor.serviceAccountName and mounts its token Secret).
        service_account_name=rbac.executor_account(spec),
        automount_service_account_token=False,
        executor=m.ExecutorConfig(service_account_name=rbac.executor_account(spec)),
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
        # for people only; an unclosed `{{` would make Hera's YAML writer join the lines that
        # follow it (hera/_yaml.py, _squash_wrapped_expressions)
        "annotations": {
            "workflows.argoproj.io/title": f"{spec.service.name} over {source}".replace(
                "{{", "{ {"
            ),
            "workflows.argoproj.io/description": (
                f"oscar-batch {__version__}: runs OSCAR service {spec.service.name}"
                f" ({spec.service.image}) on every file of {source} matching"
                f" {', '.join(spec.input.include)}; results and report in {target}"
            ).replace("{{", "{ {"),
        },
        "labels": {
            "oscar-batch/spec": spec.name,
            "oscar-batch/service": spec.service.name,
            "app.kubernetes.io/managed-by": "oscar-batch",
        },
    }


class _ScheduleSpec(m.CronWorkflowSpec):
    """v3.5's CronWorkflowSpec: one `schedule` string, no `schedules` (Hera models v4's)."""

    schedule: str
    schedules: list[str] | None = None  # type: ignore[assignment]


class _ScheduleModel(m.CronWorkflow):
    spec: _ScheduleSpec


class _ScheduleCron(CronWorkflow):
    """A CronWorkflow for v3.5: its spec carries `schedule` instead of `schedules`."""

    def build(self) -> Any:
        model = super().build()
        cron = model.spec
        assert isinstance(cron, m.CronWorkflowSpec)
        fields = {k: getattr(cron, k) for k in cron.model_fields_set if k != "schedules"}
        spec = _ScheduleSpec(**fields, schedule=cron.schedules[0])
        kept = {k: getattr(model, k) for k in model.model_fields_set if k != "spec"}
        return _ScheduleModel(**kept, spec=spec)


def _kind(spec: BatchSpec) -> type[Workflow]:
    """CronWorkflowSpec has `schedule` up to v3.7 and `schedules` from v3.6
    (pkg/apis/workflow/v1alpha1/cron_workflow_types.go in v3.5.14, v3.6.19, v4.0.10)."""
    if spec.argo.kind == "CronWorkflow":
        return CronWorkflow if version(spec) >= (3, 6) else _ScheduleCron
    return {"Workflow": Workflow, "WorkflowTemplate": WorkflowTemplate}[spec.argo.kind]


def build(spec: BatchSpec) -> Workflow:
    """The Hera workflow object of a spec (kind chosen by `argo.kind`)."""
    kind = _kind(spec)
    naming: dict[str, Any] = (
        {"generate_name": f"{spec.name}-"} if spec.argo.kind == "Workflow" else {"name": spec.name}
    )
    # Forbid: a night still running when the next starts would run beside it
    extra: dict[str, Any] = (
        {"schedules": [spec.argo.schedule], "concurrency_policy": "Forbid"}
        if spec.argo.kind == "CronWorkflow"
        else {}
    )
    with kind(
        kind=spec.argo.kind,
        **naming,
        **extra,
        namespace=spec.argo.namespace,
        entrypoint="main",
        on_exit="exit",
        service_account_name=rbac.executor_account(spec),
        image_pull_secrets=[m.LocalObjectReference(name=n) for n in spec.service.image_pull_secrets]
        or None,
        arguments=[
            *(
                []
                if spec.argo.kind == "CronWorkflow"  # its run is the night's (run_name)
                else [
                    Parameter(
                        name="run",
                        value=identity.default_run(spec),
                        description="run name: a new name starts over, the same name resumes",
                    )
                ]
            ),
            Parameter(
                name="force",
                value="false",
                description="true: take over the run's lock from a run that is gone",
            ),
            Parameter(
                name="resume_other_version",
                value="false",
                description="true: resume a run that another service version (image, script,"
                " env) began; its files then mix both versions",
            ),
        ],
        # a static cap: the plan never fans out wider than max_workers, plus plan and aggregate
        parallelism=spec.planning.max_workers + 2,
        pod_gc=m.PodGC(strategy="OnPodSuccess"),
        ttl_strategy=m.TTLStrategy(seconds_after_success=86400, seconds_after_failure=604800),
        # Only values the generator validated: a run name given at submit time (`-p run=...`)
        # in a label would make every pod create fail before the plan could reject the name.
        pod_metadata=m.Metadata(labels={"oscar-batch/spec": spec.name}),
        **_metadata(spec),
    ) as wf:
        plan = _stage(
            spec,
            "plan",
            [
                "--shards-out",
                f"{OUT_DIR}/shards.json",
                "--force",
                FORCE,
                "--resume-other-version",
                OTHER_VERSION,
                "--workflow-uid",
                UID,
            ],
            [Parameter(name="shards", value_from=m.ValueFrom(path=f"{OUT_DIR}/shards.json"))],
            rbac.plan_account(spec),
        )
        aggregate_step = _stage(
            spec,
            "aggregate",
            ["--outputs-dir", OUT_DIR, "--workflow-uid", UID],
            [
                *(
                    Parameter(name=n, value_from=m.ValueFrom(path=f"{OUT_DIR}/{n}", default=""))
                    for n in layout.OUTPUT_PARAMETERS
                ),
                *_report_artifacts(spec),
            ],
            rbac.executor_account(spec),
            _report_metrics(spec),
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
        # Argo runs the exit handler however the workflow ends (operator.go, onExit): a run
        # whose aggregate never finished (killed each time, a deadline, a stop) gives its lock
        # back instead of holding it until it goes stale. A Succeeded workflow's aggregate
        # succeeded, and it releases the lock itself: then the release task is skipped and no
        # pod starts (controller/steps.go shouldExecute reads "Succeeded != Succeeded" false).
        release = _stage(spec, "release", ["--workflow-uid", UID], [], rbac.executor_account(spec))
        with DAG(name="exit"):
            Task(name="release", template=release, when=f"{STATUS} != Succeeded")
    return wf


def to_yaml(spec: BatchSpec) -> str:
    """The workflow as YAML: same spec, same bytes.

    Raises:
        SpecError: a spec value would be changed by Argo's substitution in the pod.
    """
    wf = build(spec)
    # the object's own metadata is not templated; its spec is (operator.go, substituteParams)
    _refuse_foreign_tags(wf.to_dict()["spec"])
    text: str = wf.to_yaml()
    return summary.header(spec, endpoint(spec)) + text
