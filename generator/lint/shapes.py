"""What kind of template a template is (pkg/apis/workflow/v1alpha1 Template.GetType, IsLeaf,
IsPodType, HasOutput) and Argo's AnyString text of a value."""

from __future__ import annotations

from typing import Any

TYPES = {
    "container": "Container",
    "containerSet": "ContainerSet",
    "steps": "Steps",
    "script": "Script",
    "resource": "Resource",
    "dag": "DAG",
    "suspend": "Suspend",
    "data": "Data",
    "http": "HTTP",
    "plugin": "Plugin",
}
LEAF = {"Container", "ContainerSet", "Script", "Resource", "Data", "HTTP", "Plugin"}
POD = {"Container", "ContainerSet", "Script", "Resource", "Data"}


def kinds(tmpl: dict[str, Any]) -> list[str]:
    """Every template type the template sets."""
    return [t for k, t in TYPES.items() if tmpl.get(k) is not None]


def kind(tmpl: dict[str, Any]) -> str:
    """The template's type (the first set, as GetType), or 'Unknown'."""
    found = kinds(tmpl)
    return found[0] if found else "Unknown"


def is_leaf(tmpl: dict[str, Any]) -> bool:
    """Runs something itself rather than other templates."""
    return kind(tmpl) in LEAF


def is_pod(tmpl: dict[str, Any]) -> bool:
    """Runs as a pod of its own."""
    return kind(tmpl) in POD


def has_main(tmpl: dict[str, Any]) -> bool:
    """A containerSet with a container named main."""
    containers = (tmpl.get("containerSet") or {}).get("containers") or []
    return any(c.get("name") == "main" for c in containers)


def has_output(tmpl: dict[str, Any]) -> bool:
    """Has `outputs.result` / `exitCode`."""
    keys = ("container", "script", "data", "http", "plugin")
    return any(tmpl.get(k) is not None for k in keys) or has_main(tmpl)


def any_string(value: Any) -> str:
    """A YAML scalar as Argo's AnyString holds it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
