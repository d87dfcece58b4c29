"""`{{...}}` references and whether Argo's validator resolves them (validate.go:
resolveAllVariables, checkValidWorkflowVariablePrefix; util/template/validate.go)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# common.GlobalVarValidWorkflowVariablePrefix: tags outside these roots are not checked
CHECKED_ROOTS = ("item.", "steps.", "inputs.", "outputs.", "pod.", "workflow.", "tasks.")
# references resolved at run time that the validator lets through by prefix
RUNTIME_PREFIXES = (
    "outputs.",
    "workflow.creationTimestamp",
    "workflow.scheduledTime",
    "workflow.duration",
    "tasks.name",
    "steps.name",
    "node.name",
)


@dataclass
class Scope:
    """The references visible at one place: names, and the 'any' allowances Argo sets."""

    names: set[str] = field(default_factory=set)
    any_item: bool = False
    any_output_parameter: bool = False
    any_output_artifact: bool = False

    def copy(self) -> Scope:
        """An independent copy (a step's or task's own scope)."""
        return Scope(
            set(self.names), self.any_item, self.any_output_parameter, self.any_output_artifact
        )

    def add(self, *names: str) -> None:
        """Make names resolvable."""
        self.names.update(names)


def tags(text: str) -> Iterator[str]:
    """The `{{...}}` tags of a text, as fasttemplate splits them."""
    start = text.find("{{")
    while start >= 0:
        end = text.find("}}", start + 2)
        if end < 0:
            return
        yield text[start + 2 : end]
        start = text.find("{{", end + 2)


PLACEHOLDER = "__argo__internal__placeholder-"


def is_placeholder(value: Any) -> bool:
    """Holds a value known only at run time (a placeholder, or a reference left unresolved)."""
    return isinstance(value, str) and (PLACEHOLDER in value or "{{" in value)


def substitute(node: Any, values: dict[str, str]) -> Any:
    """A copy of node with the references in `values` replaced, as ProcessArgs does before
    validating (util/template/simple_template.go, nested `{{a-{{b}}}}` included)."""
    if isinstance(node, str):
        return _replace(node, values) if "{{" in node else node
    if isinstance(node, dict):
        return {k: substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, values) for v in node]
    return node


def _replace(text: str, values: dict[str, str]) -> str:
    out, pos = [], 0
    while (start := text.find("{{", pos)) >= 0 and (end := text.find("}}", start + 2)) >= 0:
        tag = text[start + 2 : end]
        out.append(text[pos:start])
        nested = tag.rfind("{{")
        if tag.strip() in values:
            out.append(values[tag.strip()])
        elif nested > 0 and tag[nested + 2 :] in values:
            out.append("{{" + tag[:nested] + values[tag[nested + 2 :]])
        else:
            out.append("{{" + tag + "}}")
        pos = end + 2
    out.append(text[pos:])
    return "".join(out)


def strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string value under node, with its YAML path."""
    if isinstance(node, str):
        if "{{" in node:
            yield path, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from strings(v, f"{path}[{i}]")


def resolves(tag: str, scope: Scope, globals_: dict[str, str], template_validation: bool) -> bool:
    """Whether Argo's validator resolves one tag."""
    if tag.startswith("="):
        return True  # expression tags are not validated
    t = tag.strip()
    if not t.startswith(CHECKED_ROOTS) or t in scope.names or t in globals_:
        return True
    if scope.any_item and (t == "item" or t.startswith("item.")):
        return True
    if scope.any_output_parameter and t.startswith("workflow.outputs.parameters."):
        return True
    if scope.any_output_artifact and t.startswith("workflow.outputs.artifacts."):
        return True
    if t.startswith(RUNTIME_PREFIXES):
        return True
    return template_validation and t.startswith("workflow.parameters")


def unresolved(
    node: Any, path: str, scope: Scope, globals_: dict[str, str], template_validation: bool
) -> tuple[str, str] | None:
    """The first (path, tag) under node that does not resolve, if any."""
    for where, text in strings(node, path):
        for tag in tags(text):
            if not resolves(tag, scope, globals_, template_validation):
                return where, tag
    return None
