"""OSCAR FDL import: turn one service of an FDL file (or inline fields) into a `Service`.

Only names of `environment.secrets` are kept: their values stay in the user's file and reach
pods through a Kubernetes Secret reference. The FDL's mount, input and output storage paths
become defaults for the spec's input and output buckets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator.errors import SpecError
from generator.yamlfile import read_text, read_yaml

# Fields OSCAR defines for a service (oscar/pkg/types/service.go); anything else is a typo.
OSCAR_SERVICE_FIELDS = frozenset(
    {
        "name", "cluster_id", "memory", "cpu", "enable_gpu", "enable_sgx", "image_prefetch",
        "total_memory", "total_cpu", "synchronous", "replicas", "rescheduler_threshold",
        "token", "log_level", "image", "alpine", "script", "image_pull_secrets", "expose",
        "environment", "annotations", "labels", "input", "output", "storage_providers",
        "clusters", "vo", "allowed_users", "mount", "isolation_level", "bucket_list",
        "interlink_node_name", "visibility", "owner", "file_stage_in", "kube_secret_name",
    }
)  # fmt: skip
FDL_TOP_FIELDS = frozenset({"functions", "storage_providers", "clusters"})
INLINE_FIELDS = frozenset(
    {"fdl", "name", "cluster", "image", "script", "cpu", "memory", "gpu", "env", "secrets",
     "secrets_secret", "log_level"}
)  # fmt: skip


def _services(doc: Any, source: str) -> list[tuple[str, dict[str, Any]]]:
    """Every (cluster id, service mapping) of an FDL document."""
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
        if not isinstance(service, dict):
            raise SpecError(f"{source}: functions.oscar[{i}].{cluster} must be a mapping")
        unknown = sorted(set(service) - OSCAR_SERVICE_FIELDS)
        if unknown:
            where = f"functions.oscar[{i}].{cluster}"
            raise SpecError(f"{source}: {where}: unknown OSCAR service field {unknown[0]!r}")
        found.append((str(cluster), service))
    return found


def _pick(
    services: list[tuple[str, dict[str, Any]]], name: str | None, cluster: str | None, source: str
) -> tuple[str, dict[str, Any]]:
    matches = [
        (c, s)
        for c, s in services
        if (name is None or s.get("name") == name) and (cluster is None or c == cluster)
    ]
    listed = ", ".join(f"{s.get('name')} ({c})" for c, s in services)
    if not matches:
        raise SpecError(f"{source}: no service {name or ''!r} in the FDL; it has: {listed}")
    if len(matches) > 1:
        raise SpecError(
            f"{source}: the FDL has several services ({listed}); choose one with service.name"
            " (and service.cluster)"
        )
    return matches[0]


def _storage_path(path: Any) -> tuple[str, str] | None:
    """An OSCAR storage path "bucket/some/prefix" as (bucket, "some/prefix/")."""
    if not isinstance(path, str) or not path.strip("/"):
        return None
    bucket, _, prefix = path.strip("/").partition("/")
    return bucket, (prefix + "/" if prefix else "")


def _storage_defaults(service: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Input/output defaults from the FDL's input, output and mount storage paths."""
    defaults: dict[str, dict[str, str]] = {}
    inputs = service.get("input") or []
    outputs = service.get("output") or []
    mount = service.get("mount") or {}
    source = (
        _storage_path(inputs[0].get("path")) if inputs and isinstance(inputs[0], dict) else None
    )
    source = source or _storage_path(mount.get("path") if isinstance(mount, dict) else None)
    if source:
        defaults["input"] = {"bucket": source[0], "prefix": source[1]}
    target = (
        _storage_path(outputs[0].get("path")) if outputs and isinstance(outputs[0], dict) else None
    )
    if target:
        defaults["output"] = {"bucket": target[0], "prefix": target[1]}
    return defaults


def _read_script(path_text: Any, base: Path, where: str) -> str:
    if not isinstance(path_text, str) or not path_text:
        raise SpecError(f"{where}: script: Field required (a path to the service script)")
    return read_text(base / path_text, "script")


def resolve_service(
    raw: dict[str, Any], base: Path, source: str
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """Resolve a spec's `service` section into `Service` fields and spec defaults.

    Args:
        raw: the `service` mapping of a batch spec (with `fdl`, or inline fields).
        base: the folder relative paths are read from.
        source: the spec's name, for messages.

    Returns:
        The Service fields (to be validated with the spec) and defaults for the spec's
        `input`/`output` sections taken from the FDL's storage paths.

    Raises:
        SpecError: unreadable FDL or script, unknown fields, no or several matching services.
    """
    unknown = sorted(set(raw) - INLINE_FIELDS)
    if unknown:
        raise SpecError(f"{source}: service: unknown key {unknown[0]!r}")
    overrides = {k: v for k, v in raw.items() if k not in ("fdl", "cluster", "script", "secrets")}
    secrets = raw.get("secrets") or []
    secret_names = list(secrets) if isinstance(secrets, dict | list) else secrets
    defaults: dict[str, dict[str, str]] = {}
    if raw.get("fdl"):
        fdl_path = base / str(raw["fdl"])
        where = str(fdl_path)
        _, svc = _pick(
            _services(read_yaml(fdl_path, "FDL"), where), raw.get("name"), raw.get("cluster"), where
        )
        env = (svc.get("environment") or {}).get("Variables") or {}
        fdl_secrets = (svc.get("environment") or {}).get("secrets") or {}
        fields: dict[str, Any] = {
            "name": svc.get("name"),
            "image": svc.get("image"),
            "script": _read_script(raw.get("script") or svc.get("script"), fdl_path.parent, where),
            "cpu": svc.get("cpu", "1.0"),
            "memory": svc.get("memory", "1Gi"),
            "gpu": 1 if svc.get("enable_gpu") else 0,
            "env": env,
            "secret_env": [*fdl_secrets, *secret_names],
            "log_level": svc.get("log_level"),
        }
        if svc.get("kube_secret_name"):
            fields["secrets_secret"] = svc["kube_secret_name"]
        fields = {k: v for k, v in fields.items() if v is not None}
        fields.update(overrides)
        defaults = _storage_defaults(svc)
    else:
        fields = {**overrides, "secret_env": secret_names}
        fields["script"] = _read_script(raw.get("script"), base, f"{source}: service")
    env = fields.get("env")
    if isinstance(env, dict):  # YAML reads `MODEL: 3` as a number; environment values are text
        fields["env"] = {str(k): str(v) for k, v in env.items()}
    return fields, defaults
