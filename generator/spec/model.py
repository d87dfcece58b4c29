"""The batch spec: one frozen pydantic model that every command, stage and template reads.

A spec file or an FDL only fills this model (see `load`); it is validated once, here, and
then passed explicitly. The resolved model is also what the plan and aggregate pods receive
(as JSON), so the cluster runs exactly what was reviewed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from generator import __version__
from generator.errors import SpecError
from generator.spec import fdl, quantity, rangescript, urls
from generator.spec import overrides as specinput
from generator.spec.yamlfile import read_yaml

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# A Secret's name is a DNS subdomain (Kubernetes' IsDNS1123Subdomain)
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BUCKET = re.compile(r"(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
ENDPOINT = re.compile(r"https?://[^\s/@]+/?")
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
RESERVED_ENV_PREFIX = "OSCAR_BATCH_"
# An image reference as kubelet parses it (distribution/reference regexp.go: ReferenceRegexp)
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
IMAGE = re.compile(
    rf"(?:{_HOST}/)?{_PATH_PART}(?:/{_PATH_PART})*(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)


def _matching(pattern: re.Pattern[str], longest: int, what: str) -> Any:
    """A validator: the whole value matches `pattern` (not only a prefix, nor before a
    trailing newline, as `re.match` with `$` would allow), else a message saying `what`."""

    def check(value: str) -> str:
        if len(value) > longest or not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what}")
        return value

    return check


_dns_label = _matching(
    DNS_LABEL,
    40,
    "name: lowercase letters, digits and '-', starting and ending with a letter or digit,"
    " at most 40 characters",
)
_secret_name = _matching(
    DNS_SUBDOMAIN,
    253,
    "Secret name: lowercase letters, digits, '-' and '.', starting and ending with a letter"
    " or digit",
)
_bucket = _matching(BUCKET, 63, "bucket name: 3-63 lowercase letters, digits, dots, hyphens")


def _endpoint(value: str) -> str:
    if "@" in value:
        raise ValueError(
            f"{urls.redact(value)!r} has credentials in it; remove them and put the keys"
            " in the Secret named by input.credentials_secret"
        )
    if not ENDPOINT.fullmatch(value):
        raise ValueError(f"{value!r} is not an endpoint URL: http(s)://host[:port], with no path")
    return value


def _image(value: str) -> str:
    if value.startswith("docker://"):
        raise ValueError(
            f"{value!r}: 'docker://' is Apptainer's form, kubelet cannot pull it;"
            f" write {value.removeprefix('docker://')!r}"
        )
    if len(value) > 255 or not IMAGE.fullmatch(value):
        raise ValueError(f"{value!r} is not an image reference (registry/name:tag)")
    return value


def _globs(value: Any) -> Any:
    """One glob may be given as text: `--set input.include=*.jpg`."""
    return (value,) if isinstance(value, str) else value


def _number_as_text(value: Any) -> Any:
    """YAML reads `cpu: 2` as a number; quantities are text."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _positive_quantity(value: str | int | float) -> str:
    if quantity.parse(value) <= 0:
        raise ValueError(f"must be greater than zero, got {value!r}")
    return str(value)


def _env_name(name: str) -> str:
    if not ENV_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not an environment variable name: letters, digits and '_',"
            " not starting with a digit"
        )
    if name in RESERVED_ENV or name.startswith(RESERVED_ENV_PREFIX):
        raise ValueError(f"{name} is set by the runner for each file; choose another name")
    return name


def _env_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        _env_name(name)
    return value


def _prefix(value: str) -> str:
    value = value.lstrip("/")
    parts = value.removesuffix("/").split("/")
    if value and any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            f"{value!r} is not a folder path: no empty, '.' or '..' parts (write a/b/, not"
            " ./a/, a//b/ or a/./b/)"
        )
    return value if not value or value.endswith("/") else value + "/"


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def _seconds(value: Any) -> Any:
    """`30s`, `5m`, `1h30m` (as Argo and Kubernetes write durations) as seconds; numbers as
    they are (the range is checked after)."""
    if not isinstance(value, str) or value.strip().isdigit():
        return value
    found = _DURATION.fullmatch(value.strip())
    if not found or not any(found.groups()):
        raise ValueError(f"{value!r} is not a duration: seconds (90), or 30s, 5m, 2h, 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in found.groups())
    return hours * 3600 + minutes * 60 + seconds


Name = Annotated[str, AfterValidator(_dns_label)]
Seconds = Annotated[int, BeforeValidator(_seconds)]
SecretName = Annotated[str, AfterValidator(_secret_name)]
EnvName = Annotated[str, AfterValidator(_env_name)]
Bucket = Annotated[str, AfterValidator(_bucket)]
Image = Annotated[str, AfterValidator(_image)]
Globs = Annotated[tuple[str, ...], BeforeValidator(_globs)]
Quantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_positive_quantity)]
Prefix = Annotated[str, AfterValidator(_prefix)]


class Frozen(BaseModel):
    """Immutable, strict: an unknown key is an error, not a silent no-op."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _absolute(value: str) -> str:
    if not value.startswith("/") or "\n" in value:
        raise ValueError(f"{value!r} must be an absolute path inside the container")
    return value


AbsolutePath = Annotated[str, AfterValidator(_absolute)]


class Mount(Frozen):
    """OSCAR's `mount`: a bucket folder the worker mounts at /mnt/<bucket>, beside the input."""

    bucket: Bucket
    prefix: Prefix = ""


class Volume(Frozen):
    """OSCAR's `volume`: an existing PersistentVolumeClaim mounted in every worker."""

    claim: SecretName = Field(description="the PersistentVolumeClaim's name")
    mount_path: AbsolutePath


class ScriptRef(Frozen):
    """The script as the plan and aggregate pods' copy of the spec names it: its text is the
    worker's alone (written once in the workflow YAML), these pods need only who made a run."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class Service(Frozen):
    """The OSCAR service every file is processed with, resolved from an FDL or written inline."""

    name: Name
    image: Image
    script: str = Field(description="the script's text, run once per file")
    script_ref: ScriptRef | None = Field(
        None, description="(written by generate for the plan and aggregate pods, not by people)"
    )
    cpu: Quantity = "1.0"
    memory: Quantity = "1Gi"
    gpu: int = Field(0, ge=0)
    env: Annotated[dict[str, str], AfterValidator(_env_names)] = {}
    secret_env: tuple[EnvName, ...] = Field(
        (), description="env names whose values live in a Secret"
    )
    secrets_secret: SecretName | None = Field(
        None, description="Secret holding secret_env; default <name>-secrets"
    )
    log_level: str | None = None
    workdir: AbsolutePath | None = Field(
        None, description="working directory of the script (default: the image's WORKDIR)"
    )
    image_pull_secrets: tuple[SecretName, ...] = Field(
        (), description="Secrets kubelet pulls the image with"
    )
    mount: Mount | None = Field(None, description="a further bucket folder mounted in workers")
    volume: Volume | None = None

    @model_validator(mode="after")
    def _env_once(self) -> Service:
        both = sorted(set(self.env) & set(self.secret_env))
        if both:
            raise ValueError(f"{both[0]} is both in env and in secrets; keep one")
        return self

    @property
    def secret_name(self) -> str:
        return self.secrets_secret or f"{self.name}-secrets"


class Input(Frozen):
    endpoint: Annotated[str, AfterValidator(_endpoint)] | None = None
    bucket: Bucket
    prefix: Prefix = ""
    include: Globs = ("*",)
    exclude: Globs = ()
    credentials_secret: SecretName = "minio-credentials"
    region: str | None = None

    def wanted(self, key: str) -> bool:
        """Whether a key is to be processed; globs match the key without the prefix."""
        name = key[len(self.prefix) :]
        return any(fnmatch.fnmatchcase(name, g) for g in self.include) and not any(
            fnmatch.fnmatchcase(name, g) for g in self.exclude
        )


def _name_filter(value: str) -> str:
    if not value or "\t" in value or "\n" in value or "\r" in value:
        raise ValueError(f"{value!r}: a name prefix or suffix is non-empty text on one line")
    return value


NameFilter = Annotated[str, AfterValidator(_name_filter)]


class Target(Frozen):
    """One of OSCAR's outputs (an FDL `output` entry): where the files go in layout oscar."""

    bucket: Bucket
    prefix: Prefix = ""
    name_prefixes: tuple[NameFilter, ...] = Field(
        (), description="store only names (relative to TMP_OUTPUT_DIR) starting with one of these"
    )
    name_suffixes: tuple[NameFilter, ...] = Field(
        (), description="store only names ending with one of these"
    )


class Output(Frozen):
    bucket: Bucket | None = Field(None, description="default: the input bucket")
    prefix: Prefix = Field("oscar-batch/", description="where run folders are written")
    layout: Literal["run", "oscar"] = Field(
        "run",
        description="run: outputs under the run folder, outputs/<key>/; oscar: where OSCAR"
        " stores them, <target>/<path relative to TMP_OUTPUT_DIR>, the run folder apart",
    )
    targets: tuple[Target, ...] = Field(
        (), description="OSCAR's outputs (layout oscar): the FDL's output paths and filters"
    )
    merge: tuple[Literal["json", "jsonl", "csv"], ...] = Field(
        ("json", "jsonl", "csv"),
        description="output extensions whose records the aggregate merges into results.jsonl"
        " (json, jsonl) and results.csv (csv), tagged by input key; [] turns merging off",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_merge_in_oscar_layout(cls, data: Any) -> Any:
        # In OSCAR's layout the outputs of all inputs share the targets' folders (as on
        # OSCAR): nothing says which input a record came from, so there is nothing to merge.
        if isinstance(data, dict) and data.get("layout") == "oscar":
            if data.get("merge"):
                raise ValueError(
                    "merge: layout oscar stores outputs where OSCAR does, not per input;"
                    " merging needs layout run (or merge: [])"
                )
            return {**data, "merge": ()}
        return data

    @model_validator(mode="after")
    def _targets_for_oscar_layout(self) -> Output:
        if self.layout == "oscar" and not self.targets:
            raise ValueError(
                "targets: layout oscar stores outputs in OSCAR's output paths: give the FDL"
                " an output path or set output.targets [{bucket, prefix}]"
            )
        if self.layout == "run" and self.targets:
            raise ValueError("targets: only used with layout oscar")
        return self


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
    executor_limits: dict[str, Quantity] = Field(
        {}, description="limits of Argo's wait/init containers, if the controller sets them"
    )
    kueue_queue: Name | None = Field(
        None, description="Kueue LocalQueue the worker pods join (label kueue.x-k8s.io/queue-name)"
    )
    wait_for_room: Seconds = Field(
        1800, ge=0, le=86_400, description="seconds the plan waits for room on a busy cluster"
    )


class Worker(Frozen):
    file_timeout: Seconds = Field(3600, ge=1, description="seconds one file may take")
    pod_timeout: Seconds | None = Field(
        None, ge=60, description="activeDeadlineSeconds of a worker pod"
    )
    skip_existing: bool = True
    mount_wait: Seconds = Field(120, ge=1, description="seconds to wait for the bucket mount")
    sidecar_cpu: Quantity = "100m"
    sidecar_memory: Quantity = "256Mi"
    invoke: Literal["file", "batch", "range"] = Field(
        "file",
        description="run the script once per file (OSCAR's way), per batch of files, or per "
        "range of an index (the original OSCAR-Batch payload)",
    )
    batch_size: int = Field(
        32,
        ge=1,
        le=4096,
        description="files per invocation in batch and range modes; workers claim work in"
        " units of one batch (in file mode at most one, fewer when shares are small)",
    )
    input: Literal["copy", "link"] = Field(
        "copy",
        description="copy: INPUT_FILE_PATH is a regular, writable copy, as OSCAR gives;"
        " link: a symbolic link to the read-only mount (no copy, but not a regular file)",
    )
    exit_code: Literal["strict", "ignore"] = Field(
        "strict",
        description="strict: a non-zero exit fails the file and discards its outputs;"
        " ignore: as OSCAR's supervisor, the outputs are stored and the file succeeds",
    )


ArgoVersion = Literal["3.5", "3.6", "3.7", "4.0", "4.1"]


class Argo(Frozen):
    version: ArgoVersion = Field("4.1", description="the Argo Workflows release to generate for")
    namespace: Name = "argo"
    service_account: Name = "oscar-batch"
    kind: Literal["Workflow", "WorkflowTemplate", "CronWorkflow"] = "Workflow"
    schedule: str | None = None
    retries: int = Field(3, ge=0, le=20)
    runtime_image: Image = f"ghcr.io/grycap/oscar-batch:{__version__}"
    rclone_image: Image = "rclone/rclone:1.68.2"

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

    @model_validator(mode="after")
    def _range_script(self) -> BatchSpec:
        checked = self.worker.invoke == "range" and self.service.script_ref is None
        found = rangescript.problem(self.service.script) if checked else None
        if found:
            raise ValueError(f"service.script: {found}")
        return self

    def for_stages(self) -> BatchSpec:
        """This spec without the script's text: the copy the plan and aggregate pods get, so
        the workflow YAML holds the script once (the worker's), readable."""
        if self.service.script_ref is not None:
            return self
        data = self.service.script.encode("utf-8")
        ref = ScriptRef(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
        service = self.service.model_copy(update={"script": "", "script_ref": ref})
        return self.model_copy(update={"service": service})

    @property
    def output_bucket(self) -> str:
        return self.output.bucket or self.input.bucket

    @property
    def buckets(self) -> tuple[str, ...]:
        """The buckets a worker mounts, input first, then output, the service's mount and
        the outputs' targets (layout oscar)."""
        mount = (self.service.mount.bucket,) if self.service.mount else ()
        targets = tuple(t.bucket for t in self.output.targets)
        return tuple(dict.fromkeys((self.input.bucket, self.output_bucket, *mount, *targets)))


def validate(data: dict[str, Any], source: str) -> BatchSpec:
    """Validate a resolved spec mapping, reporting the first problem as one line.

    Raises:
        SpecError: naming the source, the field path and what is wrong.
    """
    try:
        return BatchSpec.model_validate(data)
    except ValidationError as exc:
        # an unknown key usually explains a missing one (`inptu:` for `input:`): name it first
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SpecError(f"{source}: {specinput.error_line(errors[0], BatchSpec)}{more}") from None


def load(
    path: Path, overrides: list[str] | None = None, fetch: fdl.ServiceReader | None = None
) -> BatchSpec:
    """Load a batch spec file, resolving its `service` from an FDL, a cluster or inline fields.

    Args:
        path: the spec YAML; relative paths inside it are relative to its folder.
        overrides: `key.path=value` strings applied before validation.
        fetch: reads a service from an OSCAR cluster (`service.oscar`); the CLI gives it.

    Returns:
        The validated spec.

    Raises:
        SpecError: the file, its FDL or its script is unreadable, or a field is invalid.
    """
    data = read_yaml(path, "spec", numbers_as_written=True)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a batch spec is a mapping with name, service and input")
    data = specinput.apply_overrides(data, overrides or [])
    raw_service = data.get("service")
    if not isinstance(raw_service, dict):
        raise SpecError(f"{path}: service: required (fdl, or image and script)")
    if "script_ref" in raw_service:
        raise SpecError(
            f"{path}: service.script_ref is written by generate for the plan and aggregate pods;"
            " give service.script (a path to the script)"
        )
    if "fdl" not in raw_service and "name" not in raw_service and "name" in data:
        raw_service = {**raw_service, "name": data["name"]}  # an inline service: the spec's name
    given_output = data.get("output")
    layout = given_output.get("layout") if isinstance(given_output, dict) else None
    data["service"], defaults = fdl.resolve_service(
        raw_service, path.parent, str(path), layout or "run", fetch
    )
    for section, values in defaults.items():
        current = data.get(section)
        if current is None or isinstance(
            current, dict
        ):  # anything else fails validation as written
            data[section] = {**values, **(current or {})}
    given = data.get("input")
    fdl_without_bucket = (raw_service.get("fdl") or raw_service.get("oscar")) and (
        given is None or isinstance(given, dict)
    )
    if fdl_without_bucket and not (given or {}).get("bucket"):
        raise SpecError(
            f"{path}: input.bucket: required: the FDL's service has no input or mount"
            " path; set input.bucket (and input.prefix) in the spec"
        )
    return validate(data, str(path))
