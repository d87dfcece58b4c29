"""OSCAR FDL import: turn one service of an FDL file (or inline fields) into a `Service`.

Only names of `environment.secrets` are kept: their values stay in the user's file and reach
pods through a Kubernetes Secret reference. The FDL's input and output storage paths become
defaults for the spec's input and output buckets; its `mount` path is mounted in the worker as
OSCAR mounts it; its input `prefix`/`suffix` filters become include globs. Every field of
OSCAR's service type is used, inert or refused by name (see the three sets below).
"""

from __future__ import annotations

import difflib
import glob
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.errors import SpecError
from generator.spec import goyaml
from generator.spec.yamlfile import Plain, read_text, read_yaml

# Every field of OSCAR's service type (oscar/pkg/types/service.go, Service's json tags), in
# exactly one of three sets. USED fields shape the run; INERT ones configure OSCAR itself
# (scaling, access, its own bookkeeping) and change nothing a batch worker does; REFUSED ones
# would change what the script sees or needs, and a batch run cannot give it: the reason says why.
USED_FIELDS = frozenset(
    {
        "name", "image", "script", "cpu", "memory", "enable_gpu", "log_level", "environment",
        "input", "output", "mount", "image_pull_secrets", "volume", "kube_secret_name",
    }
)  # fmt: skip
INERT_FIELDS = frozenset(
    {
        "cluster_id", "total_memory", "total_cpu", "synchronous", "replicas",
        "rescheduler_threshold", "token", "alpine", "vo", "allowed_users", "isolation_level",
        "bucket_list", "visibility", "owner", "image_prefetch", "file_stage_in", "labels",
        "annotations", "clusters", "storage_providers", "namespace", "deployment",
        "volume_status",
    }
)  # fmt: skip
REFUSED_FIELDS = {
    "expose": "an exposed service is a long-running server, not a per-file batch script",
    "kserve": "a KServe InferenceService serves requests, it does not process files;"
    " call it from a per-file script instead",
    "federation": "federated delegation to other OSCAR clusters has no batch equivalent",
    "interlink_node_name": "interLink virtual nodes are not supported by batch workers",
    "enable_sgx": "SGX enclaves are not supported by batch workers",
    "ephemeral_storage_request": "not supported yet; remove it (workers use the node's disk)",
}
OSCAR_SERVICE_FIELDS = USED_FIELDS | INERT_FIELDS | frozenset(REFUSED_FIELDS)
# OSCAR's default MinIO (oscar/pkg/types/storage.go: MinIOName, DefaultProvider)
DEFAULT_PROVIDERS = frozenset({"minio", "minio.default"})
FDL_TOP_FIELDS = frozenset({"functions", "storage_providers", "clusters"})
INLINE_FIELDS = frozenset(
    {"fdl", "oscar", "name", "cluster", "image", "script", "cpu", "memory", "gpu", "env", "secrets",
     "secrets_secret", "log_level", "workdir", "image_pull_secrets", "mount", "volume"}
)  # fmt: skip
# (cluster, service name) -> (where it was read, the service's definition)
ServiceReader = Callable[[str, str], tuple[str, dict[str, Any]]]
STORAGE_FIELDS = frozenset({"storage_provider", "path", "suffix", "prefix", "options"})
VOLUME_FIELDS = frozenset({"name", "size", "mount_path", "lifecycle_policy"})


def _services(doc: Any, source: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (cluster id, where, service mapping) of an FDL document."""
    if not isinstance(doc, dict) or not isinstance(doc.get("functions"), dict):
        raise SpecError(f"{source}: not an OSCAR FDL (expected functions: oscar: [...])")
    unknown = sorted(set(doc) - FDL_TOP_FIELDS)
    if unknown:
        raise SpecError(f"{source}: unknown FDL key {unknown[0]!r}")
    entries = doc["functions"].get("oscar")
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"{source}: functions.oscar must be a non-empty list")
    found = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise SpecError(f"{source}: functions.oscar[{i}] must map one cluster id to a service")
        ((cluster, service),) = entry.items()
        where = f"{source}: functions.oscar[{i}].{cluster}"
        if not isinstance(service, dict):
            raise SpecError(f"{where} must be a mapping")
        unknown = sorted(set(service) - OSCAR_SERVICE_FIELDS)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(OSCAR_SERVICE_FIELDS), 1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpecError(f"{where}: unknown OSCAR service field {unknown[0]!r}{hint}")
        found.append((str(cluster), where, service))
    return found


def _pick(
    services: list[tuple[str, str, dict[str, Any]]],
    name: str | None,
    cluster: str | None,
    source: str,
) -> tuple[str, dict[str, Any]]:
    matches = [
        (w, s)
        for c, w, s in services
        if (name is None or s.get("name") == name) and (cluster is None or c == cluster)
    ]
    listed = ", ".join(f"{s.get('name')} ({c})" for c, _, s in services)
    if not matches:
        raise SpecError(f"{source}: no service {name or ''!r} in the FDL; it has: {listed}")
    if len(matches) > 1:
        raise SpecError(
            f"{source}: the FDL has several services ({listed}); choose one with service.name"
            " (and service.cluster)"
        )
    return matches[0]


def _refusals(svc: dict[str, Any], where: str) -> None:
    """The chosen service must not rely on what a batch run cannot give (one line if so)."""
    for field, reason in REFUSED_FIELDS.items():
        value = svc.get(field)
        if isinstance(value, Plain) and goyaml.plain_bool(value) is False:
            continue
        if value not in (None, False, "", [], {}):
            raise SpecError(f"{where}: {field}: {reason}")


def _flag(svc: dict[str, Any], field: str, where: str) -> bool:
    """A boolean field as Go decodes it: true/True/TRUE or false/False/FALSE, else refused
    (oscar-cli's decoder fails the FDL on `yes`)."""
    value = svc.get(field)
    if value is None or isinstance(value, bool):
        return bool(value)
    found = goyaml.plain_bool(value) if isinstance(value, Plain) else None
    if found is None:
        raise SpecError(f"{where}.{field}: expected true or false, got {value!r}")
    return found


def _text(value: Any) -> Any:
    """The FDL's values as plain Python text (Plain marks only what Go would retype)."""
    if isinstance(value, dict):
        return {str(k): _text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text(v) for v in value]
    return str(value) if isinstance(value, str) else value


def _storage(entry: Any, where: str) -> tuple[str, str] | None:
    """An OSCAR storage entry on the default MinIO as (bucket, "some/prefix/")."""
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise SpecError(f"{where}: expected a mapping with storage_provider and path")
    unknown = sorted(set(entry) - STORAGE_FIELDS)
    if unknown:
        raise SpecError(f"{where}: unknown storage field {unknown[0]!r}")
    provider = str(entry.get("storage_provider") or "minio")
    if provider not in DEFAULT_PROVIDERS:
        raise SpecError(
            f"{where}.storage_provider: {provider!r} is not OSCAR's default MinIO; only that"
            " maps to a batch run (give input.bucket, input.endpoint and"
            " input.credentials_secret in the spec to read another S3)"
        )
    if entry.get("options"):
        raise SpecError(f"{where}.options: extra rclone mount flags are not supported")
    path = entry.get("path")
    if not isinstance(path, str) or not path.strip("/"):
        raise SpecError(f"{where}.path: expected bucket/folder")
    bucket, _, prefix = path.strip("/").partition("/")
    return bucket, (prefix + "/" if prefix else "")


def _filter_lists(entry: dict[str, Any], where: str) -> tuple[list[str], list[str]]:
    prefixes, suffixes = entry.get("prefix") or [], entry.get("suffix") or []
    for name, values in (("prefix", prefixes), ("suffix", suffixes)):
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SpecError(f"{where}.{name}: expected a list of text")
    return [str(p) for p in prefixes], [str(x) for x in suffixes]


def _filters(entry: dict[str, Any], where: str) -> list[str] | None:
    """OSCAR's input `prefix`/`suffix` lists as include globs (a name must match one of each).

    The names are relative to the input folder, as the supervisor compares output names
    (faas-supervisor faassupervisor/storage/config.py: file_name.startswith / endswith).
    """
    prefixes, suffixes = _filter_lists(entry, where)
    if not prefixes and not suffixes:
        return None
    return [
        f"{glob.escape(p)}*{glob.escape(x)}" for p in prefixes or [""] for x in suffixes or [""]
    ]


def _targets(entries: list[Any], where: str) -> list[dict[str, Any]]:
    """Every FDL output as a target of OSCAR's layout, with its name filters (the supervisor
    stores each file in every output whose prefix/suffix lists match: faas-supervisor
    storage/config.py upload_output)."""
    targets = []
    for i, entry in enumerate(entries):
        found = _storage(entry, f"{where}.output[{i}]")
        if found is None:
            continue
        prefixes, suffixes = _filter_lists(entry, f"{where}.output[{i}]")
        targets.append(
            {
                "bucket": found[0],
                "prefix": found[1],
                # an empty prefix or suffix matches every name: the list then filters nothing
                "name_prefixes": [] if "" in prefixes else prefixes,
                "name_suffixes": [] if "" in suffixes else suffixes,
            }
        )
    return targets


def _storage_defaults(svc: dict[str, Any], where: str, layout: Any) -> dict[str, dict[str, Any]]:
    """Input/output defaults from the FDL's input and output storage paths: in layout oscar
    the outputs become `output.targets` (all of them); the run folder stays apart."""
    defaults: dict[str, dict[str, Any]] = {}
    for section in ("input", "output"):
        entries = svc.get(section) or []
        if not isinstance(entries, list):
            raise SpecError(f"{where}.{section}: expected a list of storage paths")
        if section == "output" and layout == "oscar":
            targets = _targets(entries, where)
            if targets:
                defaults["output"] = {"bucket": targets[0]["bucket"], "targets": targets}
            continue
        if len(entries) > 1:
            hint = " or set output.layout: oscar" if section == "output" else ""
            raise SpecError(
                f"{where}.{section}: {len(entries)} storage paths; a batch run has one"
                f" {section} (choose with {section}.bucket and {section}.prefix in the spec{hint})"
            )
        found = _storage(entries[0], f"{where}.{section}[0]") if entries else None
        if found:
            defaults[section] = {"bucket": found[0], "prefix": found[1]}
            globs = _filters(entries[0], f"{where}.{section}[0]")
            if globs and section == "input":
                defaults[section]["include"] = globs
            elif globs:
                raise SpecError(
                    f"{where}.output[0]: prefix/suffix filters on outputs need"
                    " output.layout: oscar (layout run stores every file the script writes)"
                )
    mount = _mount(svc, where)
    if "input" not in defaults and mount:  # a mount-only service reads its files there
        defaults["input"] = dict(mount)
    return defaults


def _mount(svc: dict[str, Any], where: str) -> dict[str, str] | None:
    found = _storage(svc.get("mount"), f"{where}.mount")
    return {"bucket": found[0], "prefix": found[1]} if found else None


def _volume(svc: dict[str, Any], where: str) -> dict[str, str] | None:
    """OSCAR's managed volume as the claim to mount: volume.name, else the service name
    (oscar/pkg/types/service.go: GetVolumePVCName)."""
    volume = svc.get("volume")
    if volume is None:
        return None
    if not isinstance(volume, dict) or set(volume) - VOLUME_FIELDS:
        raise SpecError(f"{where}.volume: expected name, size, mount_path, lifecycle_policy")
    claim = str(volume.get("name") or "").strip() or str(svc.get("name"))
    return {"claim": claim, "mount_path": str(volume.get("mount_path") or "")}


def env_text(name: str, value: Any, where: str) -> str:
    """An environment value as text: in an FDL as OSCAR's parser makes it (spec/goyaml.py:
    `yes` stays "yes", `True` becomes "true", `1.0` becomes "1"); in a spec as YAML wrote it
    (numbers as written, booleans as `true`/`false`).

    OSCAR reads variables into a map of strings (service.go: Environment.Vars), so only
    scalars are values.

    Raises:
        SpecError: the value is a list or a mapping.
    """
    if isinstance(value, Plain):
        return goyaml.plain_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float | str):
        return str(value)
    kind = "a list" if isinstance(value, list) else "a mapping"
    raise SpecError(
        f"{where}: {name}: environment values are text, not {kind}; quote it as one string"
    )


def _environment(svc: dict[str, Any], where: str) -> tuple[dict[str, Any], list[str]]:
    """FDL variables (`variables`, as real FDLs write it, or `Variables`) and secret names."""
    environment = svc.get("environment") or {}
    if not isinstance(environment, dict):
        raise SpecError(f"{where}.environment: expected variables and secrets")
    unknown = sorted(set(environment) - {"variables", "Variables", "secrets"})
    if unknown:
        raise SpecError(f"{where}.environment: unknown key {unknown[0]!r} (variables, secrets)")
    if "variables" in environment and "Variables" in environment:
        raise SpecError(f"{where}.environment: both variables and Variables; keep one")
    env = environment.get("variables") or environment.get("Variables") or {}
    secrets = environment.get("secrets") or {}
    if not isinstance(env, dict) or not isinstance(secrets, dict):
        raise SpecError(f"{where}.environment: variables and secrets are mappings")
    return env, [str(k) for k in secrets]


def _read_script(path_text: Any, base: Path, where: str) -> str:
    if not isinstance(path_text, str) or not path_text:
        raise SpecError(f"{where}: script: required (a path to the service script)")
    return read_text(base / path_text, "script")


def _from_fdl(
    raw: dict[str, Any], base: Path, layout: Any
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    fdl_path = base / str(raw["fdl"])
    source = str(fdl_path)
    where, tagged = _pick(
        _services(read_yaml(fdl_path, "FDL", numbers_as_written="plain"), source),
        raw.get("name"),
        raw.get("cluster"),
        source,
    )
    _refusals(tagged, where)  # a refused field is the reason, even when the script is missing
    script = _read_script(raw.get("script") or tagged.get("script"), fdl_path.parent, where)
    return _from_service(tagged, where, script, layout)


def _from_cluster(
    raw: dict[str, Any], base: Path, layout: Any, fetch: ServiceReader | None, source: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A service as an OSCAR cluster defines it (GET /system/services/<name>: the same type
    as an FDL's service, as JSON, the script's text inline)."""
    if raw.get("fdl") or not raw.get("name") or fetch is None:
        raise SpecError(
            f"{source}: service.oscar: give the cluster (an oscar-cli cluster id or its URL)"
            " and the service's name, without fdl"
        )
    where, svc = fetch(str(raw["oscar"]), str(raw["name"]))
    unknown = sorted(set(svc) - OSCAR_SERVICE_FIELDS)
    if unknown:
        raise SpecError(f"{where}: unknown OSCAR service field {unknown[0]!r}")
    _refusals(svc, where)
    script = (
        _read_script(raw["script"], base, f"{source}: service")
        if raw.get("script")
        else str(svc["script"])
    )
    return _from_service(svc, where, script, layout)


def _from_service(
    tagged: dict[str, Any], where: str, script: str, layout: Any
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Service fields and spec defaults from one OSCAR service definition (refusals checked)."""
    gpu = _flag(tagged, "enable_gpu", where)
    env, secret_names = _environment(tagged, where)
    env = {str(k): env_text(str(k), v, f"{where}.environment") for k, v in env.items()}
    svc = _text(tagged)
    fields: dict[str, Any] = {
        "name": svc.get("name"),
        "image": svc.get("image"),
        "script": script,
        "cpu": svc.get("cpu") or None,
        "memory": svc.get("memory") or None,
        "gpu": 1 if gpu else 0,
        "env": env,
        "secret_env": secret_names,
        "log_level": svc.get("log_level"),
        "image_pull_secrets": svc.get("image_pull_secrets") or None,
        "mount": _mount(svc, where),
        "volume": _volume(svc, where),
        "secrets_secret": svc.get("kube_secret_name") or None,
    }
    return {k: v for k, v in fields.items() if v is not None}, _storage_defaults(svc, where, layout)


def resolve_service(
    raw: dict[str, Any],
    base: Path,
    source: str,
    layout: Any = "run",
    fetch: ServiceReader | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Resolve a spec's `service` section into `Service` fields and spec defaults.

    Args:
        raw: the `service` mapping of a batch spec (with `fdl`, or inline fields).
        base: the folder relative paths are read from.
        source: the spec's name, for messages.
        layout: the spec's `output.layout`: in layout oscar the FDL's outputs become targets.
        fetch: reads `service.oscar`'s service from its cluster (clients/oscar.py `service`).

    Returns:
        The Service fields (to be validated with the spec) and defaults for the spec's
        `input`/`output` sections taken from the FDL's storage paths.

    Raises:
        SpecError: unreadable FDL or script, unknown or refused fields, no or several
            matching services.
    """
    unknown = sorted(set(raw) - INLINE_FIELDS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(INLINE_FIELDS), 1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SpecError(f"{source}: service: unknown key {unknown[0]!r}{hint}")
    overrides = {
        k: v for k, v in raw.items() if k not in ("fdl", "oscar", "cluster", "script", "secrets")
    }
    secrets = raw.get("secrets") or []
    secret_names = list(secrets) if isinstance(secrets, dict | list) else secrets
    defaults: dict[str, dict[str, Any]] = {}
    if raw.get("oscar") or raw.get("fdl"):
        fields, defaults = (
            _from_cluster(raw, base, layout, fetch, source)
            if raw.get("oscar")
            else _from_fdl(raw, base, layout)
        )
        fields["secret_env"] = [*fields["secret_env"], *secret_names]
        fields.update(overrides)
    else:
        fields = {**overrides, "secret_env": secret_names}
        fields["script"] = _read_script(raw.get("script"), base, f"{source}: service")
    env = overrides.get("env")
    if isinstance(env, dict):  # YAML reads `MODEL: 3` as a number; environment values are text
        fields["env"] = {
            str(k): env_text(str(k), v, f"{source}: service.env") for k, v in env.items()
        }
    return fields, defaults
