"""DAG rules (validate.go: validateDAG, sortDAGTasks, verifyNoCycles, validateDAGTargets,
validateDAGTaskArgumentDependency; workflow/common/ancestry.go: GetTaskDependencies,
ValidateTaskResults, GetTaskAncestry; util/sorting TopologicalSorting)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from generator.lint import arguments, names
from generator.lint.problem import Reject
from generator.lint.variables import Scope

if TYPE_CHECKING:
    from generator.lint.templates import Context, Validator

TASK_NAME = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*?\.[A-Z][a-zA-Z]+)|([a-zA-Z0-9][-a-zA-Z0-9]*)")
TASK_RESULT = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*?\.[A-Z][a-zA-Z]+)")
RESULTS = {
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
}
ITEMS_RESULTS = ("AnySucceeded", "AllFailed")


def dependencies(task: dict[str, Any]) -> dict[str, str]:
    """Task name -> 'task' or 'items' (an .AnySucceeded/.AllFailed condition)."""
    depends = task.get("depends") or " && ".join(
        f"({d}.Succeeded)" for d in task.get("dependencies") or []
    )
    found: dict[str, str] = {}
    for m in TASK_NAME.finditer(str(depends)):
        if m.group(1):
            name, result = m.group(1).split(".", 1)
            if result in ITEMS_RESULTS:
                found[name] = "items"
            else:
                found.setdefault(name, "task")
        else:
            found[m.group(2)] = "task"
    return found


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as a path, if there is one."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in graph.get(n, ()):
            if state.get(d) == 1:
                return [*stack[stack.index(d) :], d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in graph:
        if n not in state and (found := visit(n)):
            return found
    return None


def sort_tasks(
    tasks: list[dict[str, Any]], deps: dict[str, dict[str, str]]
) -> list[dict[str, Any]]:
    """TopologicalSorting (Kahn, roots in task order).

    Raises:
        Reject: a duplicated name, an unknown dependency or a cycle, in Argo's words.
    """
    by_name: dict[str, dict[str, Any]] = {}
    for t in tasks:
        if t.get("name") in by_name:
            raise Reject(f"duplicated nodeName {t.get('name')}", "", "name-not-unique")
        by_name[t.get("name", "")] = t
    waiting = {n: len(deps[n]) for n in by_name}
    nexts: dict[str, list[str]] = {}
    for n in by_name:
        for d in deps[n]:
            if d not in by_name:
                raise Reject(f"invalid dependency {d}", "", "dag-missing-dependency")
            nexts.setdefault(d, []).append(n)
    queue = [n for n in by_name if waiting[n] == 0]
    for n in queue:
        for nxt in nexts.get(n, ()):
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                queue.append(nxt)
    if len(queue) < len(by_name):
        raise Reject("graph with cycle", "", "dag-cycle")
    return [by_name[n] for n in queue]


def ancestry(name: str, deps: dict[str, dict[str, str]]) -> list[str]:
    """Every task `name` depends on, directly or not."""
    seen: list[str] = []

    def walk(n: str) -> None:
        for d in deps.get(n, {}):
            if d not in seen and d != name:
                seen.append(d)
                walk(d)

    walk(name)
    return seen


def _argument_dependency(args: dict[str, Any], ancestors: list[str]) -> str | None:
    for p in args.get("parameters") or []:
        value = p.get("value")
        if isinstance(value, str) and value.startswith("{{tasks."):
            ref = value.split(".")[1]
            if ref not in ancestors:
                return f"missing dependency '{ref}' for parameter '{p.get('name')}'"
    for a in args.get("artifacts") or []:
        src = a.get("from") or ""
        if src.startswith("{{tasks."):
            ref = src.split(".")[1]
            if ref not in ancestors:
                return f"missing dependency '{ref}' for artifact '{a.get('name')}'"
    return None


def validate_dag(v: Validator, scope: Scope, ctx: Context, tmpl: dict[str, Any], path: str) -> None:
    """validateDAG."""
    name = tmpl.get("name")
    prefix = f"templates.{name}"
    v.check_non_leaf(tmpl, path)
    tasks = list((tmpl.get("dag") or {}).get("tasks") or [])
    here = f"{path}.dag.tasks"
    if not tasks:
        raise Reject(f"{prefix} must have at least one task", here, "dag-empty")
    using_depends = any(t.get("depends") for t in tasks)
    deps = {t.get("name", ""): dependencies(t) for t in tasks}
    index = {t.get("name", ""): i for i, t in enumerate(tasks)}
    try:
        ordered = sort_tasks(tasks, deps)
    except Reject as e:
        raise Reject(f"{prefix} sorting failed: {e.message}", here, e.rule) from None
    names.check_list(tasks, here, f"{prefix}.tasks", params=False)
    by_name = {t["name"]: t for t in tasks}
    resolved: dict[str, dict[str, Any] | None] = {}
    for task in ordered:
        tname, at = task["name"], f"{here}[{index[task['name']]}]"
        if (using_depends or task.get("dependencies")) and tname[0].isdigit():
            msg = (
                f"{prefix}.tasks.{tname} name cannot begin with a digit when "
                "using either 'depends' or 'dependencies'"
            )
            raise Reject(msg, f"{at}.name", "dag-digit-name")
        if using_depends and task.get("dependencies"):
            msg = f"{prefix} cannot use both 'depends' and 'dependencies' in the same DAG template"
            raise Reject(msg, at, "dag-depends-and-dependencies")
        if using_depends and task.get("continueOn") is not None:
            msg = (
                f"{prefix} cannot use 'continueOn' when using 'depends'. "
                "Instead use 'dep-task.Failed'/'dep-task.Errored'"
            )
            raise Reject(msg, at, "dag-continue-on-with-depends")
        try:
            resolved[tname] = v.holder(task, ctx, arguments.Arguments(None), at)
        except Reject as e:
            raise e.wrap(f"{prefix}.tasks.{tname}") from None
        aggregate = bool(task.get("withItems") or task.get("withParam"))
        v.add_outputs(resolved[tname], "tasks", tname, scope, aggregate=aggregate, ancestor=False)
        for m in TASK_RESULT.finditer(str(task.get("depends") or "")):
            dep, result = m.group(1).split(".", 1)
            if result not in RESULTS:
                msg = f"{prefix}.tasks.{tname} task result '{result}' for task '{dep}' is invalid"
                raise Reject(msg, f"{at}.depends", "dag-task-result")
        for dep, kind in deps[tname].items():
            target = by_name[dep]
            if kind == "items" and not (
                target.get("withItems") or target.get("withParam") or target.get("withSequence")
            ):
                msg = (
                    f"{prefix}.tasks.{tname} dependency '{dep}' uses an items-based condition such "
                    "as .AnySucceeded or .AllFailed but does not contain any items"
                )
                raise Reject(msg, f"{at}.depends", "dag-items-condition")
    target = str((tmpl.get("dag") or {}).get("target") or "")
    if bad := v.unresolved(target, f"{path}.dag.target", scope):
        raise Reject(
            f"{prefix}.targets failed to resolve {{{{{bad[1]}}}}}", bad[0], "unresolved-variable"
        )
    for t in target.split(" ") if target else ():
        if not names.is_parameter(t) and t not in by_name:
            msg = f"{prefix}.targets: target '{t}' is not defined"
            raise Reject(msg, f"{path}.dag.target", "dag-target")
    for task in ordered:
        _check_task(v, scope, ctx, tmpl, task, resolved, deps, f"{here}[{index[task['name']]}]")


def _check_task(
    v: Validator,
    scope: Scope,
    ctx: Context,
    tmpl: dict[str, Any],
    task: dict[str, Any],
    resolved: dict[str, dict[str, Any] | None],
    deps: dict[str, dict[str, str]],
    at: str,
) -> None:
    prefix, tname = f"templates.{tmpl.get('name')}.tasks.{task['name']}", task["name"]
    if task.get("hooks") is not None:
        scope.add(f"tasks.{tname}.status")
    v.add_outputs(resolved[tname], "tasks", tname, scope, aggregate=False, ancestor=False)
    own = scope.copy()
    ancestors = ancestry(tname, deps)
    by_name = {t["name"]: t for t in (tmpl.get("dag") or {}).get("tasks") or []}
    for a in ancestors:
        aggregate = bool(by_name[a].get("withItems") or by_name[a].get("withParam"))
        v.add_outputs(resolved[a], "tasks", a, own, aggregate=aggregate, ancestor=True)
    for p in ((task.get("inline") or {}).get("inputs") or {}).get("parameters") or []:
        own.add(f"inputs.parameters.{p.get('name')}")
    try:
        v.add_items(task, own)
    except Reject as e:
        raise e.wrap(prefix, at) from None
    if bad := v.unresolved(task, at, own):
        raise Reject(f"{prefix} failed to resolve {{{{{bad[1]}}}}}", bad[0], "unresolved-variable")
    arguments.check_arguments(
        f"{prefix}.arguments.", task.get("arguments"), f"{at}.arguments", False
    )
    if err := _argument_dependency(task.get("arguments") or {}, ancestors):
        raise Reject(f"{prefix} {err}", f"{at}.arguments", "dag-missing-dependency")
    try:
        v.holder(task, ctx, arguments.Arguments(task.get("arguments") or {}), at)
    except Reject as e:
        raise e.wrap(prefix) from None
