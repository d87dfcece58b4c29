"""Argo's rules, as pure functions: `{{...}}` substitution, `depends` expressions, the DAG
phase after the tasks ended, and retryStrategy backoff.

Each rule follows the Argo source (v4.1.2) cited where it is applied; the executor
(generator/executor.py) only wires them to processes and clocks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from generator.errors import RunError


class ExprError(RunError):
    """A tag, expression or duration the emulation cannot resolve (Argo would refuse it too)."""


# ---------------------------------------------------------------- substitution

TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
# util/template/simple_template.go simpleReplaceStrict: an unknown tag under one of these
# prefixes fails ("failed to resolve"), any other unknown tag is written back unchanged.
STRICT = re.compile(r"^(workflow|inputs|outputs|tasks|steps|item|pod|retries)(\.|$)")


def substitute(text: str, scope: Mapping[str, str]) -> str:
    """Replace Argo's simple tags `{{name}}` (spaces around the name allowed) from `scope`.

    Raises:
        ExprError: an expression tag `{{=...}}` (not emulated), or an unknown strict tag.
    """

    def one(match: re.Match[str]) -> str:
        tag = match.group(1).strip()
        if tag.startswith("="):
            raise ExprError(f"expression tag {{{{{tag}}}}} is not emulated")
        if tag in scope:
            return scope[tag]
        if STRICT.match(tag):
            raise ExprError(f"failed to resolve {{{{{tag}}}}}")
        return match.group(0)

    return TAG.sub(one, text)


# ---------------------------------------------------------------- depends

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Error", "Skipped", "Omitted")
RESULTS = (
    "Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed",
)  # fmt: skip
# workflow/common/ancestry.go taskNameRegex: `name.Result` or a bare task name
_TOKEN = re.compile(
    r"\s*(?:(\|\||&&|!|\(|\))|([a-zA-Z0-9][-a-zA-Z0-9]*?)\.([A-Z][a-zA-Z]+)|([a-zA-Z0-9][-a-zA-Z0-9]*))"
)


@dataclass(frozen=True)
class TaskState:
    """A finished task as `depends` sees it: its phase and, for a withParam group, its items'."""

    phase: str
    items: tuple[str, ...] | None = None

    def result(self, name: str) -> bool:
        # dag.go evaluateDependsLogic: AnySucceeded/AllFailed look at a task group's children
        if name == "AnySucceeded":
            return any(p == "Succeeded" for p in self.items or ())
        if name == "AllFailed":
            return bool(self.items) and all(p == "Failed" for p in self.items or ())
        if name == "Errored":
            return self.phase == "Error"
        if name == "Daemoned":
            return False  # no daemon templates are emulated
        return self.phase == name


def _tokens(depends: str) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    pos, text = 0, depends.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"cannot parse depends {depends!r} at {text[pos:]!r}")
        pos = m.end()
        if m.group(1):
            out.append(("op", m.group(1), ""))
        elif m.group(2):
            if m.group(3) not in RESULTS:
                # ancestry.go ValidateTaskResults
                raise ExprError(f"task result {m.group(3)!r} for task {m.group(2)!r} is invalid")
            out.append(("ref", m.group(2), m.group(3)))
        else:
            out.append(("task", m.group(4), ""))
    return out


def dependencies(depends: str) -> list[str]:
    """The task names a `depends` expression refers to, in order of first mention."""
    names = [t[1] for t in _tokens(depends) if t[0] != "op"]
    return list(dict.fromkeys(names))


def evaluate(depends: str, done: Mapping[str, TaskState]) -> bool:
    """Whether a task runs, once every task it depends on is fulfilled.

    A bare name means `(t.Succeeded || t.Skipped || t.Daemoned)` (ancestry.go
    expandDependency); `!` binds tighter than `&&`, which binds tighter than `||` (expr).

    Raises:
        ExprError: malformed expression or a task not in `done`.
    """
    tokens = _tokens(depends)
    pos = 0

    def peek() -> tuple[str, str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise ExprError(f"depends {depends!r} ends early")
        pos += 1
        return tokens[pos - 1]

    def state(name: str) -> TaskState:
        if name not in done:
            raise ExprError(f"depends {depends!r} names {name!r}, which is not finished")
        return done[name]

    def primary() -> bool:
        kind, value, result = take()
        if kind == "op" and value == "!":
            return not primary()
        if kind == "op" and value == "(":
            inner = disjunction()
            if take()[1] != ")":
                raise ExprError(f"depends {depends!r}: missing ')'")
            return inner
        if kind == "ref":
            return state(value).result(result)
        if kind == "task":
            s = state(value)
            return s.result("Succeeded") or s.result("Skipped") or s.result("Daemoned")
        raise ExprError(f"depends {depends!r}: unexpected {value!r}")

    def conjunction() -> bool:
        value = primary()
        while (t := peek()) and t[1] == "&&":
            take()
            right = primary()
            value = value and right
        return value

    def disjunction() -> bool:
        value = conjunction()
        while (t := peek()) and t[1] == "||":
            take()
            right = conjunction()
            value = value or right
        return value

    result = disjunction()
    if pos != len(tokens):
        raise ExprError(f"depends {depends!r}: unexpected {tokens[pos][1]!r}")
    return result


def group_phase(items: Iterable[str]) -> str:
    """A withParam task group's phase once all items are fulfilled (dag.go executeDAGTask):
    Succeeded, unless an item Failed or Errored (the last such item's phase)."""
    phase = "Succeeded"
    for p in items:
        if p in ("Failed", "Error"):
            phase = p
    return phase


def dag_phase(
    phases: Mapping[str, str], parents: Mapping[str, list[str]], fail_fast: bool = True
) -> str:
    """The phase of a finished DAG, as dag.go assessDAGPhase decides it.

    Args:
        phases: each task's phase (a withParam group's phase, see `group_phase`).
        parents: each task's dependencies.
        fail_fast: the DAG's failFast (default true).

    A task that did not run (Omitted) inherits its branch's phase, Failed or Error before
    Succeeded; the DAG is Succeeded unless a leaf task's branch Failed or Errored: a handled
    failure (an aggregate that ran after failed workers and succeeded) is a Succeeded DAG.
    """
    branch: dict[str, str] = {}

    def of(task: str) -> str:
        if task not in branch:
            phase = phases.get(task, "")
            if phase in ("Succeeded", "Failed", "Error", "Skipped"):
                branch[task] = phase
            else:
                inherited = [of(p) for p in parents.get(task, [])] or ["Succeeded"]
                bad = [p for p in inherited if p in ("Failed", "Error")]
                branch[task] = bad[0] if bad else inherited[0]
                if phase not in ("Omitted", "Skipped"):
                    branch[task] = ""  # not fulfilled: still running
        return branch[task]

    children = {p for deps in parents.values() for p in deps}
    result = "Succeeded"
    for task in phases:
        if task in children:
            continue
        phase = of(task)
        if phase == "":
            return "Running"
        if phase in ("Failed", "Error"):
            result = phase
            if fail_fast:
                break
    return result


# ---------------------------------------------------------------- retryStrategy

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def duration(value: object) -> float:
    """Seconds of an Argo duration: a bare integer is seconds, else Go's time.ParseDuration
    (wfv1.ParseStringToDuration)."""
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return float(int(text))
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _GO_PART.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise ExprError(f"invalid duration {text!r}")
    return sign * sum(float(n) * _GO_UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class Attempt:
    """One finished pod of a retried task (times in seconds on one clock)."""

    started: float
    finished: float
    phase: str
    message: str = ""
    exit_code: str = "-1"  # the main container's, "-1" when it has none (never ran)


@dataclass(frozen=True)
class RetryDecision:
    """Retry after `wait` seconds with the pod deadline `deadline` (None: none), or stop."""

    retry: bool
    wait: float = 0.0
    deadline: float | None = None
    message: str = ""


TRANSIENT = re.compile(
    r"(?i)(connection reset|connection refused|i/o timeout|etcdserver|"
    r"the object has been modified|EOF|TLS handshake timeout|too many requests|"
    r"unexpected EOF|net/http: request canceled)"
)


def retry(strategy: Mapping[str, object], attempts: list[Attempt], now: float) -> RetryDecision:
    """What Argo does after the last attempt failed (operator.go processNodeRetries).

    maxDuration counts from the first attempt's start and, when a retry starts, becomes
    that pod's deadline; the wait is duration * factor^(attempts-1), at most `cap`.
    """
    last = attempts[-1]
    if last.phase not in ("Failed", "Error"):
        return RetryDecision(False, message=last.message)
    backoff = strategy.get("backoff")
    deadline: float | None = None
    wait = 0.0
    if isinstance(backoff, Mapping):
        if backoff.get("maxDuration"):
            deadline = attempts[0].started + duration(backoff["maxDuration"])
            if now > deadline:
                return RetryDecision(False, message="Max duration limit exceeded")
        if not backoff.get("duration"):
            raise ExprError("no base duration specified for retryStrategy")
        wait = duration(backoff["duration"])
        factor = int(str(backoff.get("factor") or 0))
        if factor > 0:
            wait *= math.pow(factor, len(attempts) - 1)
        if backoff.get("cap"):
            wait = min(wait, duration(backoff["cap"]))
        if deadline is not None and last.finished + wait > deadline:
            return RetryDecision(False, message="Backoff would exceed max duration limit")
    policy = str(
        strategy.get("retryPolicy") or ("Always" if strategy.get("expression") else "OnFailure")
    )
    if policy == "Always":
        on_failed = on_error = True
    elif policy == "OnError":
        on_failed, on_error = False, True
    elif policy == "OnFailure":
        on_failed, on_error = True, False
    elif policy == "OnTransientError":
        on_failed = on_error = bool(TRANSIENT.search(last.message))
    else:
        raise ExprError(f"{policy} is not a valid RetryPolicy")
    if (last.phase == "Failed" and not on_failed) or (last.phase == "Error" and not on_error):
        return RetryDecision(False, message=last.message)
    limit = strategy.get("limit")
    if limit is not None and len(attempts) > int(str(limit)):
        return RetryDecision(False, message="No more retries left")
    expression = strategy.get("expression")
    if expression:
        # buildRetryStrategyLocalScope: every value a string
        scope = {
            "retries": str(len(attempts) - 1),
            "lastRetry.exitCode": last.exit_code,
            "lastRetry.status": last.phase,
            "lastRetry.duration": str(last.finished - last.started),
            "lastRetry.message": last.message,
        }
        if not truth(str(expression), scope):
            return RetryDecision(False, message="retryStrategy.expression evaluated to false")
    return RetryDecision(True, wait=wait, deadline=deadline)


# ---------------------------------------------------------------- expressions

_EXPR_TOKEN = re.compile(
    r"\s*(?:(\|\||&&|==|!=|<=|>=|<|>|!|\(|\)|,)|'([^']*)'|\"([^\"]*)\"|(\d+(?:\.\d+)?)"
    r"|([A-Za-z_][A-Za-z0-9_.]*))"
)


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


def truth(
    expression: str,
    scope: Mapping[str, str],
    what: str = "retryStrategy.expression",
    govaluate: bool = False,
) -> bool:
    """A boolean expr-lang expression as a retryStrategy uses it (argoexpr.EvalBool): names
    from `scope`, string and number literals, == != < <= > >=, && || ! (and, or, not),
    parentheses and asInt/asFloat. `govaluate`: a task's `when` as the controller reads it,
    after substitution (controller/steps.go shouldExecute): a bare word is a string
    ("Failed != Succeeded" needs no quotes), == and != of mismatched types are false and
    true, no functions, no and/or/not words.

    Raises:
        ExprError: what this small evaluator does not read.
    """
    tokens: list[tuple[str, object]] = []
    pos, text = 0, expression.strip()
    while pos < len(text):
        m = _EXPR_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"cannot read {what} {expression!r}")
        op, sq, dq, num, name = m.groups()
        pos = m.end()
        if op:
            tokens.append(("op", op))
        elif sq is not None or dq is not None:
            tokens.append(("value", sq if sq is not None else dq))
        elif num:
            tokens.append(("value", float(num)))
        elif name in ("true", "false"):
            tokens.append(("value", name == "true"))
        elif govaluate:
            tokens.append(("value", name))
        elif name in ("and", "or", "not"):
            tokens.append(("op", {"and": "&&", "or": "||", "not": "!"}[name]))
        else:
            tokens.append(("name", name))
    at = 0

    def peek() -> object:
        return tokens[at][1] if at < len(tokens) else None

    def take() -> tuple[str, object]:
        nonlocal at
        if at >= len(tokens):
            raise ExprError(f"{what} {expression!r} ends early")
        at += 1
        return tokens[at - 1]

    def primary() -> object:
        kind, value = take()
        if kind == "op" and value == "(":
            inner = disjunction()
            take()
            return inner
        if kind == "op" and value == "!":
            return not primary()
        if kind == "name" and peek() == "(":
            take()
            arg = disjunction()
            take()
            if value not in ("asInt", "asFloat"):
                raise ExprError(f"function {value} is not emulated in {what}")
            return float(str(arg))
        if kind == "name":
            if value not in scope:
                raise ExprError(f"unknown name {value} in {what}")
            return scope[str(value)]
        return value

    def comparison() -> object:
        left = primary()
        while peek() in ("==", "!=", "<", "<=", ">", ">="):
            op = take()[1]
            right = primary()
            if type(left) is not type(right):
                if govaluate and op in ("==", "!="):  # govaluate: reflect.DeepEqual
                    left = op == "!="
                    continue
                # expr-lang refuses mismatched types; govaluate orders numbers only
                hint = (
                    ""
                    if govaluate
                    else " (every lastRetry value is a string: compare with '...' or asInt())"
                )
                raise ExprError(f"{what} {expression!r}: {op} of mismatched types{hint}")
            left = _compare(str(op), left, right)
        return left

    def conjunction() -> object:
        left = comparison()
        while peek() == "&&":
            take()
            right = comparison()
            left = bool(left) and bool(right)
        return left

    def disjunction() -> object:
        left = conjunction()
        while peek() == "||":
            take()
            right = conjunction()
            left = bool(left) or bool(right)
        return left

    result = disjunction()
    if at != len(tokens):
        raise ExprError(f"cannot read {what} {expression!r}")
    return bool(result)
