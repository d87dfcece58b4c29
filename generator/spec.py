"""The batch spec: one frozen pydantic model that every command, stage and template reads.

A spec file or an FDL only fills this model (see `load`); it is validated once, here, and
then passed explicitly. The resolved model is also what the plan and aggregate pods receive
(as JSON), so the cluster runs exactly what was reviewed.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from generator import __version__, fdl, quantity
from generator.errors import SpecError
from generator.yamlfile import read_yaml

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Names our runner sets for the service script; an env entry must not shadow them.
RESERVED_ENV = frozenset(
    {
        "INPUT_FILE_PATH",
        "TMP_OUTPUT_DIR",
        "TMP_INPUT_DIR",
        "STORAGE_OBJECT_KEY",
        "EVENT",
        "JOB_UUID",
    }
)


def _dns_label(value: str) -> str:
    if len(value) > 40 or not DNS_LABEL.match(value):
        raise ValueError("must be lowercase letters, digits and '-', at most 40 characters")
    return value


def _number_as_text(value: Any) -> Any:
    """YAML reads `cpu: 2` as a number; quantities are text."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _positive_quantity(value: str | int | float) -> str:
    if quantity.parse(value) <= 0:
        raise ValueError(f"must be greater than zero, got {value!r}")
    return str(value)


def _env_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not an environment variable name")
        if name in RESERVED_ENV:
            raise ValueError(f"{name} is set by the runner for each file")
    return value


def _prefix(value: str) -> str:
    value = value.lstrip("/")
    if ".." in value.split("/"):
        raise ValueError("must not contain '..'")
    return value if not value or value.endswith("/") else value + "/"


Name = Annotated[str, AfterValidator(_dns_label)]
Quantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_positive_quantity)]
Prefix = Annotated[str, AfterValidator(_prefix)]


class Frozen(BaseModel):
    """Immutable, strict: an unknown key is an error, not a silent no-op."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Service(Frozen):
    """The OSCAR service every file is processed with, resolved from an FDL or written inline."""

    name: Name
    image: str = Field(min_length=1)
    script: str = Field(description="the script's text, run once per file")
    cpu: Quantity = "1.0"
    memory: Quantity = "1Gi"
    gpu: int = Field(0, ge=0)
    env: Annotated[dict[str, str], AfterValidator(_env_names)] = {}
    secret_env: tuple[str, ...] = Field((), description="env names whose values live in a Secret")
    secrets_secret: str | None = Field(
        None, description="Secret holding secret_env; default <name>-secrets"
    )
    log_level: str | None = None

    @property
    def secret_name(self) -> str:
        return self.secrets_secret or f"{self.name}-secrets"


class Input(Frozen):
    endpoint: str | None = Field(None, pattern=r"^https?://[^\s/]+/?$")
    bucket: str = Field(pattern=BUCKET.pattern)
    prefix: Prefix = ""
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    credentials_secret: Name = "minio-credentials"
    region: str | None = None

    def wanted(self, key: str) -> bool:
        """Whether a key is to be processed; globs match the key without the prefix."""
        name = key[len(self.prefix) :]
        return any(fnmatch.fnmatchcase(name, g) for g in self.include) and not any(
            fnmatch.fnmatchcase(name, g) for g in self.exclude
        )


class Output(Frozen):
    bucket: str | None = Field(
        None, pattern=BUCKET.pattern, description="default: the input bucket"
    )
    prefix: Prefix = "oscar-batch/"


class Toleration(Frozen):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class Planning(Frozen):
    max_workers: int = Field(100, ge=1, le=10_000)
    min_files_per_worker: int = Field(1, ge=1)
    headroom: float = Field(1.0, gt=0, le=1)
    balance: Literal["count", "bytes"] = "count"
    node_selector: dict[str, str] = {}
    tolerations: tuple[Toleration, ...] = ()
    executor_requests: dict[str, Quantity] = Field(
        {}, description="requests of Argo's wait/init containers, if the controller sets them"
    )


class Worker(Frozen):
    file_timeout: int = Field(3600, ge=1, description="seconds one file may take")
    pod_timeout: int | None = Field(
        None, ge=60, description="activeDeadlineSeconds of a worker pod"
    )
    skip_existing: bool = True
    mount_wait: int = Field(120, ge=1, description="seconds to wait for the bucket mount")
    sidecar_cpu: Quantity = "100m"
    sidecar_memory: Quantity = "256Mi"
    invoke: Literal["file", "batch", "range"] = Field(
        "file",
        description="run the script once per file (OSCAR's way), per batch of files, or per "
        "range of an index (the original OSCAR-Batch payload)",
    )
    batch_size: int = Field(
        32, ge=1, le=4096, description="files per invocation in batch and range modes"
    )


class Argo(Frozen):
    namespace: Name = "argo"
    service_account: Name = "oscar-batch"
    kind: Literal["Workflow", "WorkflowTemplate", "CronWorkflow"] = "Workflow"
    schedule: str | None = None
    retries: int = Field(3, ge=0, le=20)
    runtime_image: str = f"ghcr.io/grycap/oscar-batch:{__version__}"
    rclone_image: str = "rclone/rclone:1.68.2"

    @model_validator(mode="after")
    def _schedule_for_cron(self) -> Argo:
        if (self.kind == "CronWorkflow") != (self.schedule is not None):
            raise ValueError("schedule is required for kind CronWorkflow and only for it")
        return self


class Failure(Frozen):
    max_failed_ratio: float = Field(0.0, ge=0, le=1)


class BatchSpec(Frozen):
    """Everything a batch run needs: what to process, with what, and how wide."""

    name: Name
    service: Service
    input: Input
    output: Output = Output()
    planning: Planning = Planning()
    worker: Worker = Worker()
    argo: Argo = Argo()
    failure: Failure = Failure()

    @property
    def output_bucket(self) -> str:
        return self.output.bucket or self.input.bucket

    @property
    def buckets(self) -> tuple[str, ...]:
        """The buckets a worker mounts, input first."""
        return tuple(dict.fromkeys((self.input.bucket, self.output_bucket)))


def validate(data: dict[str, Any], source: str) -> BatchSpec:
    """Validate a resolved spec mapping, reporting the first problem as one line.

    Raises:
        SpecError: naming the source, the field path and what is wrong.
    """
    try:
        return BatchSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = first["msg"].removeprefix("Value error, ")
        raise SpecError(f"{source}: {where}: {msg}{more}") from None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a spec mapping.

    Raises:
        SpecError: an override is not of the form key.path=value.
    """
    for item in overrides:
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise SpecError(f"--set {item!r}: expected key.path=value")
        node = data
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SpecError(f"--set {item!r}: {part} is not a mapping")
            node = child
        node[leaf] = yaml.safe_load(raw) if raw else ""
    return data


def load(path: Path, overrides: list[str] | None = None) -> BatchSpec:
    """Load a batch spec file, resolving its `service` from an FDL or inline fields.

    Args:
        path: the spec YAML; relative paths inside it are relative to its folder.
        overrides: `key.path=value` strings applied before validation.

    Returns:
        The validated spec.

    Raises:
        SpecError: the file, its FDL or its script is unreadable, or a field is invalid.
    """
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a batch spec is a mapping with name, service and input")
    data = apply_overrides(data, overrides or [])
    raw_service = data.get("service")
    if not isinstance(raw_service, dict):
        raise SpecError(f"{path}: service: Field required (fdl, or image and script)")
    data["service"], defaults = fdl.resolve_service(raw_service, path.parent, str(path))
    for section, values in defaults.items():
        current = data.get(section)
        if current is None or isinstance(
            current, dict
        ):  # anything else fails validation as written
            data[section] = {**values, **(current or {})}
    return validate(data, str(path))
