"""Name rules of Argo's validator (workflow/validate/validate.go: validateWorkflowFieldNames,
isValidWorkflowFieldName, isValidParamOrArtifactName, isValidStepName, isParameter)."""

from __future__ import annotations

import re
from typing import Any

from generator.lint.problem import Reject

FIELD_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
PARAM_NAME = re.compile(r"[-a-zA-Z0-9_]+")
FIELD_MAX = 128
PARAMETER = re.compile(r"\{\{[-a-zA-Z0-9]+(\.[-a-zA-Z0-9_]+)*\}\}")
FIELD_MSG = (
    "name must consist of alpha-numeric characters or '-', and must start with an"
    " alpha-numeric character (e.g. My-name1-2, 123-NAME)"
)
PARAM_MSG = (
    "Parameter/Artifact name must consist of alpha-numeric characters, '_' or '-'"
    " e.g. my_param_1, MY-PARAM-1"
)
# validation placeholders stand for values known at run time (isValidStepName)
PLACEHOLDER = re.compile(r"__argo__internal__placeholder-\d+")


def is_parameter(text: str) -> bool:
    """Argo's isParameter: the text holds a `{{a.b.c}}` reference."""
    return bool(PARAMETER.search(text))


def field_name_errors(name: str) -> list[str]:
    """isValidWorkflowFieldName: templates, steps, tasks, containers."""
    errs = []
    if len(name) > FIELD_MAX:
        errs.append(f"must be no more than {FIELD_MAX} characters")
    if not FIELD_NAME.fullmatch(name):
        errs.append(FIELD_MSG)
    return errs


def param_name_errors(name: str) -> list[str]:
    """isValidParamOrArtifactName."""
    return [] if PARAM_NAME.fullmatch(name) else [PARAM_MSG]


def step_name_errors(name: str) -> list[str]:
    """isValidStepName: a part substituted by a placeholder is checked as 'x'."""
    return field_name_errors(PLACEHOLDER.sub("x", name))


def check_list(items: Any, path: str, prefix: str, *, params: bool) -> None:
    """validateWorkflowFieldNames: every item named, validly, once.

    Raises:
        Reject: with Argo's message after `prefix` (e.g. `templates.main.inputs.parameters`).
    """
    seen: set[str] = set()
    for i, item in enumerate(items or []):
        name = str((item or {}).get("name") or "")
        here = f"{path}[{i}].name"
        if not name:
            raise Reject(f"{prefix}[{i}].name is required", here, "name-required")
        errs = param_name_errors(name) if params else field_name_errors(name)
        if errs:
            raise Reject(
                f"{prefix}[{i}].name: '{name}' is invalid: {';'.join(errs)}", here, "name-invalid"
            )
        if name in seen:
            raise Reject(f"{prefix}[{i}].name '{name}' is not unique", here, "name-not-unique")
        seen.add(name)
