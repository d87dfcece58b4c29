"""Steps rules (validate.go: validateSteps)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from generator.lint import arguments
from generator.lint.problem import Reject
from generator.lint.variables import Scope

if TYPE_CHECKING:
    from generator.lint.templates import Context, Validator


def validate_steps(
    v: Validator, scope: Scope, ctx: Context, tmpl: dict[str, Any], path: str
) -> None:
    """validateSteps: names unique and valid, references only to earlier steps, arguments."""
    v.check_non_leaf(tmpl, path)
    name, seen = tmpl.get("name"), set()
    for i, group in enumerate(tmpl.get("steps") or []):
        for j, step in enumerate(group or []):
            sname, at = str(step.get("name") or ""), f"{path}.steps[{i}][{j}]"
            prefix = f"templates.{name}.steps[{i}].{sname}"
            if not sname:
                raise Reject(f"templates.{name}.steps[{i}].name is required", at, "name-required")
            if sname in seen:
                raise Reject(
                    f"templates.{name}.steps[{i}].name '{sname}' is not unique",
                    f"{at}.name",
                    "name-not-unique",
                )
            if errs := v.step_name_errors(sname):
                msg = f"templates.{name}.steps[{i}].name '{sname}' is invalid: {';'.join(errs)}"
                raise Reject(msg, f"{at}.name", "name-invalid")
            seen.add(sname)
            scope.add(f"steps.{sname}.status")
            try:
                v.add_items(step, scope)
            except Reject as e:
                raise e.wrap(prefix, at) from None
            arguments.check_arguments(
                f"{prefix}.arguments.", step.get("arguments"), f"{at}.arguments", False
            )
            try:
                resolved = v.holder(step, ctx, arguments.Arguments(None), at)
            except Reject as e:
                raise e.wrap(prefix) from None
            if _has_exit_hook(step):
                v.add_outputs(resolved, "steps", sname, scope, aggregate=False, ancestor=False)
            for hook, spec in (step.get("hooks") or {}).items():
                if hook != "exit" and not (spec or {}).get("expression"):
                    raise Reject(
                        f"{prefix}.{hook} Expression required",
                        f"{at}.hooks.{hook}",
                        "hook-expression",
                    )
            own = scope.copy()
            for p in ((step.get("inline") or {}).get("inputs") or {}).get("parameters") or []:
                own.add(f"inputs.parameters.{p.get('name')}")
            if bad := v.unresolved(step, at, own):
                msg = f"templates.{name}.steps failed to resolve {{{{{bad[1]}}}}}"
                raise Reject(msg, bad[0], "unresolved-variable")
            aggregate = bool(step.get("withItems") or step.get("withParam"))
            v.add_outputs(resolved, "steps", sname, scope, aggregate=aggregate, ancestor=False)
            try:
                v.holder(step, ctx, arguments.Arguments(step.get("arguments") or {}), at)
            except Reject as e:
                raise e.wrap(prefix) from None


def _has_exit_hook(step: dict[str, Any]) -> bool:
    return bool(step.get("onExit")) or "exit" in (step.get("hooks") or {})
