"""Argo's v4.1 JSON schema (generator/schema/), made to decide as Argo's strict decoding does.

As shipped the schema accepts any unknown field, types IntOrString, Quantity and Argo's
AnyString as strings only, and lists fields as required that Go's decoder never requires
(an empty container image is allowed when templateDefaults sets one). Here: unknown fields
are rejected (as `argo lint --strict`, the default, does), ints/numbers/booleans are taken
where Argo's types take them, `required` is dropped (the semantic checks say what Argo
needs), and the fields of the chosen --argo-version are applied (versions.FIELDS).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import jsonschema

from generator.lint import versions
from generator.lint.problem import Problem

SCHEMA_FILE = "argo-workflows-v4.1-schema.json"
DEF = "io.argoproj.workflow.v1alpha1."
KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
SCALAR = {"type": ["string", "number", "boolean"]}
# Argo's AnyString (pkg/apis/workflow/v1alpha1/anystring.go) takes any JSON value: numbers
# and booleans as their text, anything else silently as "".
ANY_STRING = {"Parameter": ("default", "value", "description"), "ValueFrom": ("default",)}


def _scalar_strings(node: Any) -> None:
    # sigs.k8s.io/yaml converts a YAML number or boolean to a string where Go wants a string
    if isinstance(node, dict):
        for v in node.values():
            _scalar_strings(v)
        if node.get("type") == "string" and "enum" not in node:
            node.update(copy.deepcopy(SCALAR))
    elif isinstance(node, list):
        for v in node:
            _scalar_strings(v)


def _loosen(definitions: dict[str, Any]) -> None:
    _scalar_strings(definitions)
    for name, fields in ANY_STRING.items():
        props = definitions[DEF + name]["properties"]
        for field in fields:
            props[field] = {}
    definitions[DEF + "Parameter"]["properties"]["enum"] = {"type": "array"}
    # Kubernetes' IntOrString and Quantity unmarshal from a JSON number as well as a string.
    definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
    definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"type": ["string", "number"]}


@functools.cache
def _definitions(version: str) -> dict[str, Any]:
    text = (resources.files("generator") / "schema" / SCHEMA_FILE).read_text(encoding="utf-8")
    definitions: dict[str, Any] = copy.deepcopy(json.loads(text)["definitions"])
    _loosen(definitions)
    for name, definition in definitions.items():
        definition.pop("required", None)
        if definition.get("type") == "object" and "properties" in definition:
            definition.setdefault("additionalProperties", False)
            definition["x-definition"] = name
    for name, field_name, old, changed in versions.RETYPED:
        if versions.key(version) < versions.key(changed):
            definitions[DEF + name]["properties"][field_name] = {"$ref": f"#/definitions/{old}"}
    for field in versions.FIELDS:
        props = definitions[DEF + field.definition]["properties"]
        if not versions.has(field, version):
            props.pop(field.name, None)
        elif field.name not in props:
            props[field.name] = {}  # removed in v4.1; its shape is that version's business
    return definitions


@functools.cache
def _validator(kind: str, version: str) -> Any:
    root = {"$ref": f"#/definitions/{DEF}{kind}", "definitions": _definitions(version)}
    cls = jsonschema.validators.validator_for(
        {"$schema": "http://json-schema.org/draft-07/schema#"}
    )
    return cls(root)


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _unknown(error: Any, version: str) -> Iterator[tuple[str, str]]:
    known = error.schema.get("properties", {})
    definition = str(error.schema.get("x-definition", "")).removeprefix(DEF)
    for field in sorted(k for k in error.instance if k not in known):
        path = _path([*error.absolute_path, field])
        why = versions.why_unknown(definition, field, version)
        yield path, f'unknown field "{path}"' + (f": {why}" if why else "")


def _json_type(value: Any) -> str:
    # the JSON names Go's decoder uses in "cannot unmarshal X into ..."
    for kind, name in ((bool, "bool"), (int | float, "number"), (str, "string"), (list, "array")):
        if isinstance(value, kind):
            return name
    return "object" if isinstance(value, dict) else "null"


def schema_problems(doc: dict[str, Any], file: str, version: str) -> Iterator[Problem]:
    """Schema violations of one Argo document, deepest cause first, one per location."""
    seen = set()
    errors = _validator(doc["kind"], version).iter_errors(doc)
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        best = jsonschema.exceptions.best_match([error, *error.context]) if error.context else error
        if best.validator == "additionalProperties":
            found = list(_unknown(best, version))
        elif best.validator == "type":
            path, got = _path(best.absolute_path), _json_type(best.instance)
            found = [(path, f"cannot unmarshal {got} into {path} of type {best.validator_value}")]
        else:
            found = [(_path(best.absolute_path), best.message)]
        for path, message in found:
            if (path, message) not in seen:
                seen.add((path, message))
                yield Problem(file, path, message, "schema")
