"""Render the worker's two shell scripts, run in the service image: the runner
(templates/runner.sh.j2, the pod's main container) and the service dispatcher
(templates/service.sh.j2, its `service` container, which runs the script)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import jinja2

import generator
from generator import __version__
from generator.bucket import claims, identity, results
from generator.build import sidecar, workerpod
from generator.spec.model import BatchSpec


def templates_dir() -> Path:
    """templates/ beside the package in a checkout, generator/templates inside a wheel."""
    package = Path(str(resources.files(generator.__name__)))
    packaged = package / "templates"
    return packaged if packaged.is_dir() else package.parent / "templates"


def _template(template: Path) -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template.parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # shell text, quoted by the shquote filter
    )
    env.filters["shquote"] = shlex.quote
    return env.get_template(template.name)


def render(mount_points: Iterable[str], template: Path | None = None) -> str:
    """The runner script text.

    Args:
        mount_points: the runner's bucket mount points, waited for before it starts.
        template: another version's runner template (bench/bench_runner.py --vs), not ours.
    """
    return _template(template or templates_dir() / "runner.sh.j2").render(
        version=__version__,
        mounts=[sidecar.proc_mounts_escape(p) for p in mount_points],
        claim_width=claims.RECORD_BYTES - 1,
        tail_width=claims.TAIL_BYTES - 1,
        settle=claims.SETTLE,
        settle_ms=round(claims.SETTLE * 1000),
        given=claims.GIVEN,
        result_header=f"{results.MAGIC} {results.FORMAT}",
        hashed_end=results.HASHED_END.decode().rstrip("\n"),
    )


def render_service(mount_points: Iterable[str], template: Path | None = None) -> str:
    """The service container's dispatcher text.

    Args:
        mount_points: the service container's bucket mount points, waited for before it starts.
        template: another version's dispatcher template (bench/bench_runner.py --vs), not ours.
    """
    return _template(template or templates_dir() / "service.sh.j2").render(
        version=__version__,
        mounts=[sidecar.proc_mounts_escape(p) for p in mount_points],
    )


def environment(
    spec: BatchSpec, *, mnt_root: str, run: str, shard: str, script: str
) -> dict[str, str]:
    """The runner's environment contract (see the template's header); the service's own
    environment goes to the service container (`service_environment`).

    Args:
        spec: the batch spec.
        mnt_root: the folder buckets are mounted under.
        run: the run name (an Argo expression in a workflow).
        shard: the shard id (an Argo expression in a workflow).
        script: where the service script is.
    """
    layout_root = f"{spec.output.prefix}{run}"
    reads, writes = workerpod.mounts(spec, mnt_root, run)[:2]  # input, then the run's folder
    input_dir = f"{reads.point}/{spec.input.prefix}"
    env = {
        "OSCAR_BATCH_SHARD": shard,
        "OSCAR_BATCH_RUN_DIR": writes.point,
        "OSCAR_BATCH_INPUT_DIR": input_dir.rstrip("/"),
        "OSCAR_BATCH_INPUT_BUCKET": spec.input.bucket,
        "OSCAR_BATCH_INPUT_PREFIX": spec.input.prefix,
        "OSCAR_BATCH_SCRIPT": script,
        "OSCAR_BATCH_FILE_TIMEOUT": str(spec.worker.file_timeout),
        "OSCAR_BATCH_SKIP_EXISTING": "1" if spec.worker.skip_existing else "0",
        "OSCAR_BATCH_MOUNT_WAIT": str(spec.worker.mount_wait),
        identity.ENV: identity.of(spec).fingerprint,
        "OSCAR_BATCH_RUN_KEY": layout_root,
        "OSCAR_BATCH_INVOKE": spec.worker.invoke,
        "OSCAR_BATCH_BATCH_SIZE": str(spec.worker.batch_size),
        # OSCAR gives every service container its name (grycap/oscar pkg/types/service.go
        # addServiceMetadataEnvVars); the runner also builds JOB_UUID from it, as OSCAR does.
        "OSCAR_SERVICE_NAME": spec.service.name,
        "OSCAR_BATCH_INPUT": spec.worker.input,
        "OSCAR_BATCH_EXIT_CODE": spec.worker.exit_code,
        "OSCAR_BATCH_LAYOUT": spec.output.layout,
        **_shared(),
        "OSCAR_BATCH_CONFIG": workerpod.CONFIG_DIR,
    }
    if spec.output.layout == "oscar":
        env["OSCAR_BATCH_OUTPUTS"] = outputs_text(spec, mnt_root)
    return env


def _shared() -> dict[str, str]:
    """Where both containers find the pod's own folders (workerpod.CTL_DIR, WORK_DIR)."""
    return {"OSCAR_BATCH_CTL": workerpod.CTL_DIR, "OSCAR_BATCH_WORK": workerpod.WORK_DIR}


def service_environment(spec: BatchSpec, *, shard: str) -> dict[str, str]:
    """The service container's environment: the service's own, what OSCAR gives every service
    container, and the dispatcher's contract (templates/service.sh.j2's header).

    Args:
        spec: the batch spec.
        shard: the shard id (an Argo expression in a workflow), for scripts that log it.
    """
    env = {
        "OSCAR_SERVICE_NAME": spec.service.name,
        "OSCAR_BATCH_SHARD": shard,
        "OSCAR_BATCH_SCRIPT": f"{workerpod.SERVICE_CONFIG_DIR}/script.sh",
        "OSCAR_BATCH_INPUT": spec.worker.input,
        "OSCAR_BATCH_INPUT_BUCKET": spec.input.bucket,
        "OSCAR_BATCH_MOUNT_WAIT": str(spec.worker.mount_wait),
        **_shared(),
    }
    if spec.service.log_level:
        env["LOG_LEVEL"] = spec.service.log_level
    return {**spec.service.env, **env}


def outputs_text(spec: BatchSpec, mnt_root: str) -> str:
    """OSCAR's outputs for the runner, one line each: the folder files go to, its key prefix
    in its bucket, the name prefixes, an empty field, the name suffixes (TAB-separated; the
    model keeps tabs and line breaks out of them)."""
    lines = []
    for folder, t in zip(workerpod.target_dirs(spec, mnt_root), spec.output.targets, strict=True):
        lines.append("\t".join((folder, t.prefix, *t.name_prefixes, "", *t.name_suffixes)))
    return "\n".join(lines)
