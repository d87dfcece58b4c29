"""What people type into a spec, in their words: `--set` overrides and validation messages.

`--set` values are YAML, read with the same safe reader as files; text that is not YAML
(`*.jpg`, `@x`) is taken as written. Validation errors become one line naming the field,
with the closest valid key for a misspelt one, never the validation library's wording.
"""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel

from generator.errors import SpecError
from generator.spec.yamlfile import load_yaml

# pydantic's wording for its error types, in the words of someone editing a spec
_MESSAGES = {
    "missing": "required, not given",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "dict_type": "must be a mapping (key: value lines)",
    "model_type": "must be a mapping (key: value lines)",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class a location inside `root` points into (for suggesting keys)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field else None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found:
            return found
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def error_line(error: Any, root: type[BaseModel]) -> str:
    """One pydantic error as `where: what`, with the closest valid key for an unknown one.

    Args:
        error: one entry of `ValidationError.errors()`.
        root: the model that was validated (where unknown keys are looked up).
    """
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        parent, key = loc[:-1], str(loc[-1])
        model = _model_at(root, parent)
        close = difflib.get_close_matches(key, list(model.model_fields) if model else [], 1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        where = ".".join(str(p) for p in parent) or "(top level)"
        return f"{where}: unknown key {key!r}{hint}"
    where = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] in _MESSAGES:
        given = "" if error["type"] == "missing" else f", got {_shown(error.get('input'))}"
        return f"{where}: {_MESSAGES[error['type']]}{given}"
    msg = str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
    # a check across sections (a validator of the whole spec) names its fields itself
    return f"{where}: {msg}" if loc else msg


def _override_value(item: str, path: str, raw: str) -> Any:
    """A --set value as YAML; text that is not YAML (`*.jpg`, `@x`) is taken as written."""
    if not raw:
        return ""
    try:
        return load_yaml(raw, f"--set {item!r}", numbers_as_written=True)
    except SpecError:
        if raw[0] in "[{":
            raise SpecError(
                f"--set {item!r}: not a valid YAML list or mapping; quote the items:"
                f""" --set '{path}=["*.jpg", "*.png"]' (one glob: --set {path}=*.jpg)"""
            ) from None
        return raw


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a spec mapping.

    A number in the path indexes a list the spec already has (`planning.tolerations.0.key`).

    Raises:
        SpecError: an override is not of the form key.path=value, or its path does not fit.
    """
    for item in overrides:
        path, sep, raw = item.partition("=")
        parts = path.split(".")
        if not sep or not all(parts):
            raise SpecError(f"--set {item!r}: expected key.path=value")
        node: Any = data
        for depth, part in enumerate(parts):
            leaf = depth == len(parts) - 1
            here = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise SpecError(
                        f"--set {item!r}: {'.'.join(parts[:depth])} is a list of {len(node)};"
                        " give the whole list instead: key.path=[...]"
                    )
                key: Any = int(part)
            elif isinstance(node, dict):
                key = part
            else:
                raise SpecError(f"--set {item!r}: {'.'.join(parts[:depth])} is not a mapping")
            if leaf:
                node[key] = _override_value(item, path, raw)
            elif isinstance(node, dict) and node.get(key) is None:
                node[key] = {}
            elif not isinstance(node[key], dict | list):
                raise SpecError(f"--set {item!r}: {here} is not a mapping")
            if not leaf:
                node = node[key]
    return data
