"""Rules of leaf templates and metrics (validate.go: validateLeaf, the metrics part of
validateTemplate; ContainerSetTemplate.Validate; workflow/metrics)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from generator.lint import names, variables, versions
from generator.lint.dag import find_cycle
from generator.lint.problem import Reject

RESOURCE_ACTIONS = ("get", "create", "apply", "delete", "replace", "patch")
METRIC_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")  # prometheus legacy, ':' refused by Argo
# by the time Argo parses a manifest, its references are placeholders
TAG = re.compile(r"\{\{.*?\}\}")


def reserved(name: str) -> bool:
    """common.IsArgoSidecar: names Argo's own containers use."""
    return name in ("wait", "supervisor") or name.startswith("artifact-plugin-")


def _mounts(mounts: Any, where: str, path: str, prefix: str) -> dict[str, str]:
    seen: dict[str, str] = {}
    for i, m in enumerate(mounts or []):
        mp = m.get("mountPath")
        if mp in seen:
            msg = f"{prefix}volumeMounts[{i}].mountPath '{mp}' already mounted in {seen[mp]}"
            raise Reject(msg, f"{path}.volumeMounts[{i}]", "mount-collision")
        seen[mp] = f"{where}volumeMounts.{m.get('name')}"
    return seen


def _image(tmpl: dict[str, Any], field: str, defaults: dict[str, Any] | None, path: str) -> None:
    if (tmpl.get(field) or {}).get("image"):
        return
    if defaults is not None and ((defaults.get(field) or {}).get("image")):
        return
    msg = f"templates.{tmpl.get('name')}.{field}.image may not be empty"
    raise Reject(msg, f"{path}.{field}.image", "image-required")


def _container_set(tmpl: dict[str, Any], path: str, reserve: bool) -> None:
    name, cs = tmpl.get("name"), tmpl.get("containerSet") or {}
    prefix, here = f"templates.{name}.containerSet.", f"{path}.containerSet"
    containers = cs.get("containers") or []
    if not containers:
        raise Reject(f"{prefix}containers must have at least one container", here, "container-set")
    names.check_list(containers, f"{here}.containers", f"{prefix}containers", params=False)
    _mounts(cs.get("volumeMounts"), "", here, prefix)
    known = {c.get("name") for c in containers}
    graph: dict[str, list[str]] = {}
    for c in containers:
        for dep in c.get("dependencies") or []:
            if dep not in known:
                msg = f"{prefix}containers.{c.get('name')} dependency '{dep}' not defined"
                raise Reject(msg, here, "container-set")
        graph[c.get("name")] = list(c.get("dependencies") or [])

    if find_cycle(graph):
        raise Reject(f"{prefix}containers dependency cycle detected", here, "container-set")
    inputs, outputs = tmpl.get("inputs") or {}, tmpl.get("outputs") or {}
    if (inputs.get("artifacts") or outputs.get("parameters") or outputs.get("artifacts")) and (
        "main" not in known
    ):
        msg = f'{prefix}containers must have a container named "main" for input or output'
        raise Reject(msg, here, "container-set")
    for c in containers:
        if reserve and reserved(str(c.get("name"))):
            msg = f'{prefix}containers: "{c.get("name")}" is a reserved Argo container name'
            raise Reject(msg, here, "reserved-container-name")


def _resource(tmpl: dict[str, Any], path: str) -> None:
    name, res = tmpl.get("name"), tmpl.get("resource") or {}
    here, action = f"{path}.resource", str(res.get("action") or "")
    if not variables.is_placeholder(action) and action not in RESOURCE_ACTIONS:
        msg = f"templates.{name}.resource.action must be one of: {', '.join(RESOURCE_ACTIONS)}"
        raise Reject(msg, f"{here}.action", "resource")
    if action in ("delete", "get"):
        return
    manifest, manifest_from = res.get("manifest") or "", res.get("manifestFrom")
    if not manifest and manifest_from is None:
        msg = (
            f"either templates.{name}.resource.manifest or "
            f"templates.{name}.resource.manifestFrom must be specified"
        )
        raise Reject(msg, here, "resource")
    if manifest and manifest_from is not None:
        msg = (
            "shouldn't have both `manifest` and `manifestFrom` "
            "specified in `Manifest` for resource template"
        )
        raise Reject(msg, here, "resource")
    art = (manifest_from or {}).get("artifact")
    if art is not None:
        arts = ((tmpl.get("inputs") or {}).get("artifacts")) or []
        if not any(a.get("name") == art.get("name") for a in arts):
            msg = f"artifact {art.get('name')} in `manifestFrom` refer to a non-exist artifact"
            raise Reject(msg, f"{here}.manifestFrom", "resource")
    if manifest:
        try:
            yaml.safe_load(TAG.sub("placeholder", manifest))
        except yaml.YAMLError:
            msg = f"templates.{name}.resource.manifest must be a valid yaml"
            raise Reject(msg, f"{here}.manifest", "resource") from None


def check_leaf(
    tmpl: dict[str, Any], path: str, defaults: dict[str, Any] | None, version: str
) -> None:
    """validateLeaf after its reference check. `defaults` is the templateDefaults of the
    Workflow or WorkflowTemplate holding the template (None for a ClusterWorkflowTemplate,
    whose defaults Argo does not consult)."""
    name, reserve = tmpl.get("name"), versions.applies("reserved-container-names", version)
    if tmpl.get("container") is not None:
        where = f"templates.{name}.container."
        seen = _mounts(
            tmpl["container"].get("volumeMounts"), "container.", f"{path}.container", where
        )
        for i, art in enumerate((tmpl.get("inputs") or {}).get("artifacts") or []):
            if art.get("path") in seen:
                msg = (
                    f"templates.{name}.inputs.artifacts[{i}].path "
                    f"'{art['path']}' already mounted in {seen[art['path']]}"
                )
                raise Reject(msg, f"{path}.inputs.artifacts[{i}].path", "mount-collision")
            seen[art.get("path")] = f"inputs.artifacts.{art.get('name')}"
        _image(tmpl, "container", defaults, path)
    if tmpl.get("containerSet") is not None:
        _container_set(tmpl, path, reserve)
    for i, s in enumerate(tmpl.get("sidecars") or []):
        if reserve and reserved(str(s.get("name"))):
            msg = f'templates.{name}.sidecars: "{s.get("name")}" is a reserved Argo container name'
            raise Reject(msg, f"{path}.sidecars[{i}].name", "reserved-container-name")
    if tmpl.get("resource") is not None:
        _resource(tmpl, path)
    if tmpl.get("script") is not None:
        _image(tmpl, "script", defaults, path)
    deadline = tmpl.get("activeDeadlineSeconds")
    if deadline is not None and not _int_or_variable(deadline):
        msg = (
            f"templates.{name}.activeDeadlineSeconds must be a "
            "positive integer > 0 or an argo variable"
        )
        raise Reject(msg, f"{path}.activeDeadlineSeconds", "active-deadline")
    if tmpl.get("parallelism") is not None:
        msg = f"templates.{name}.parallelism is only valid for steps and dag templates"
        raise Reject(msg, f"{path}.parallelism", "leaf-only")


def _int_or_variable(value: Any) -> bool:
    """intstr.IsValidIntOrArgoVariable, and not negative."""
    if isinstance(value, int):
        return value >= 0
    text = str(value)
    if names.is_parameter(text) or variables.is_placeholder(text):
        return True
    try:
        return int(text) >= 0
    except ValueError:
        return False


def check_metrics(tmpl: dict[str, Any], path: str) -> None:
    """The metrics rules of validateTemplate."""
    name = tmpl.get("name")
    for i, m in enumerate((tmpl.get("metrics") or {}).get("prometheus") or []):
        here, metric = f"{path}.metrics.prometheus[{i}]", m.get("name", "")
        if not METRIC_NAME.fullmatch(metric):
            msg = (
                f"templates.{name} metric name '{metric}' is invalid. Metric "
                "names must contain alphanumeric characters or '_'"
            )
            raise Reject(msg, f"{here}.name", "metric")
        for label in m.get("labels") or []:
            if not METRIC_NAME.fullmatch(str(label.get("key", ""))):
                msg = (
                    f"metric label '{label.get('key')}' is invalid: keys may "
                    "only contain alphanumeric characters or '_'"
                )
                raise Reject(msg, f"{here}.labels", "metric")
        if not m.get("help"):
            msg = (
                f"templates.{name} metric '{metric}' must contain a "
                "help string under 'help: ' field"
            )
            raise Reject(msg, here, "metric")
        if err := _metric_value_error(m):
            raise Reject(f"templates.{name} metric '{metric}' error: {err}", here, "metric")


def _metric_value_error(m: dict[str, Any]) -> str | None:
    gauge = m.get("gauge")
    if gauge is not None:
        if not gauge.get("value"):
            return "missing gauge.value"
        if gauge.get("realtime") and "resourcesDuration." in str(gauge["value"]):
            return "'resourcesDuration.*' metrics cannot be used in real-time"
    for kind in ("counter", "histogram"):
        if m.get(kind) is not None and not m[kind].get("value"):
            return f"missing {kind}.value"
    return None
