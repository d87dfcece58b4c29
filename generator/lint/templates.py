"""Walking templates as Argo's validator does (validate.go: validateTemplateHolder,
validateTemplate, validateLeaf, addOutputsToScope, addItemsToScope; templateresolution for
`template`, `templateRef` and `inline`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from generator.lint import arguments, leaf, names, shapes, variables, versions
from generator.lint.dag import validate_dag
from generator.lint.problem import NOTE, Problem, Reject
from generator.lint.steps import validate_steps
from generator.lint.variables import Scope

RETRY_POLICIES = ("Always", "OnError", "OnFailure", "OnTransientError", "")
# the locals a template with a retryStrategy may use (varkeys Retries*)
RETRY_VARS = (
    "retries",
    *(f"retries.last{s}" for s in ("ExitCode", "Status", "Duration", "Message")),
)


@dataclass
class Source:
    """A document holding templates: a Workflow, (Cluster)WorkflowTemplate or CronWorkflow."""

    kind: str
    name: str
    spec: dict[str, Any]
    base: str  # YAML path of the spec
    file: str
    templates: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, t in enumerate(self.spec.get("templates") or []):
            if isinstance(t, dict):
                self.templates.setdefault(str(t.get("name") or ""), (t, i))

    def defaults(self) -> dict[str, Any] | None:
        """templateDefaults, where Argo's image check consults them (not for a cluster template)."""
        if self.kind == "ClusterWorkflowTemplate":
            return None
        return self.spec.get("templateDefaults") or {}

    def where(self, index: int, file: str) -> str:
        """YAML path of template `index`, named by file when it is not the linted one."""
        path = f"{self.base}.templates[{index}]"
        return path if file == self.file else f"({self.kind} {self.name} in {self.file}) {path}"


# (cluster scope?, name) -> the template holding document given to lint
Library = dict[tuple[bool, str], Source]
Context = Source


class Validator:
    """The state of one document's validation (templateValidationCtx)."""

    def __init__(
        self, doc: Source, library: Library, template_validation: bool, version: str
    ) -> None:
        self.doc = doc
        self.version = version
        self.library = library
        self.template_validation = template_validation
        self.globals: dict[str, str] = {}  # reference -> its value while validating
        self.any_output_artifact = False
        self.results: set[tuple[int, str]] = set()
        self.notes: list[Problem] = []
        self.placeholders: dict[str, str] = {}

    def step_name_errors(self, name: str) -> list[str]:
        """What is wrong with a step name, by this version's rule."""
        if versions.applies("step-name-placeholders", self.version):
            return names.step_name_errors(name)
        return names.field_name_errors(name)

    def placeholder(self, ref: str) -> str:
        """The stand-in for a value known at run time (one per reference)."""
        return self.placeholders.setdefault(ref, f"{variables.PLACEHOLDER}{len(self.placeholders)}")

    def add_global(self, ref: str, value: Any = None) -> None:
        """Make a workflow-wide reference resolvable (its value, or a placeholder)."""
        self.globals[ref] = self.placeholder(ref) if value is None else shapes.any_string(value)

    def unresolved(self, node: Any, path: str, scope: Scope) -> tuple[str, str] | None:
        """The first reference under node that Argo would fail to resolve."""
        return variables.unresolved(node, path, scope, self.globals, self.template_validation)

    def holder(
        self, holder: dict[str, Any], ctx: Context, args: arguments.Arguments, path: str
    ) -> dict[str, Any] | None:
        """validateTemplateHolder: resolve, check retryPolicy, validate; the template or None
        when it cannot be known here (a cluster's template, a reference resolved at run time)."""
        ref, name = holder.get("templateRef"), holder.get("template")
        if ref is not None:
            if name:
                raise Reject(
                    "template name cannot be specified with templateRef", path, "template-ref"
                )
            if not ref.get("name"):
                raise Reject("resource name is required", f"{path}.templateRef", "template-ref")
            if not ref.get("template"):
                raise Reject("template name is required", f"{path}.templateRef", "template-ref")
            if any(variables.is_placeholder(v) for v in ref.values()):
                return None  # resolved at run time (VerifyResolvedVariables, placeholder check)
            source = self.library.get((bool(ref.get("clusterScope")), str(ref["name"])))
            if source is None:
                kind = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
                msg = (
                    f"{kind} {ref['name']!r} is not among the files given: its "
                    f"template {ref['template']!r} is not checked"
                )
                self.notes.append(
                    Problem(
                        self.doc.file, f"{path}.templateRef", msg, "template-ref-not-given", NOTE
                    )
                )
                return None
            if ref["template"] not in source.templates:
                msg = f"template reference {ref['name']}.{ref['template']} not found"
                raise Reject(msg, f"{path}.templateRef", "template-ref")
            tmpl, index = source.templates[ref["template"]]
            ctx, where = source, source.where(index, self.doc.file)
        elif holder.get("inline") is not None:
            tmpl, where = holder["inline"], f"{path}.inline"
        else:
            if not name or name not in ctx.templates:
                raise Reject(
                    f"template name '{name or ''}' undefined",
                    f"{path}.template" if path.endswith("]") else path,  # or spec.entrypoint
                    "template-undefined",
                )
            tmpl, index = ctx.templates[name]
            where = ctx.where(index, self.doc.file)
        policy = (tmpl.get("retryStrategy") or {}).get("retryPolicy") or ""
        if tmpl.get("retryStrategy") is not None and policy not in RETRY_POLICIES:
            raise Reject(
                f"{policy} is not a valid RetryPolicy", f"{where}.retryStrategy.retryPolicy", "enum"
            )
        self.template(tmpl, ctx, args, where)
        return tmpl

    def template(
        self, tmpl: dict[str, Any], ctx: Context, args: arguments.Arguments, path: str
    ) -> None:
        """validateTemplate."""
        name, kinds = tmpl.get("name"), shapes.kinds(tmpl)
        choose = (
            "choose one of: container, containerSet, steps, script, "
            "resource, dag, suspend, template, template ref"
        )
        if not kinds:
            raise Reject(
                f"templates.{name} template type unspecified. {choose}", path, "template-type"
            )
        if len(kinds) > 1:
            raise Reject(
                f"templates.{name} multiple template types specified. {choose}",
                path,
                "template-type",
            )
        kind = kinds[0]
        if tmpl.get("podResources") is not None:
            if kind in ("HTTP", "Plugin"):
                msg = f"templates.{name}.podResources is not supported for {kind} templates"
                raise Reject(msg, f"{path}.podResources", "pod-resources")
            check_pod_resources(
                f"templates.{name}.podResources", tmpl["podResources"], f"{path}.podResources"
            )
        scope = arguments.input_scope(tmpl, path)
        for i, c in enumerate(tmpl.get("initContainers") or []):
            if not c.get("name"):
                raise Reject(
                    "initContainers must all have container name",
                    f"{path}.initContainers[{i}]",
                    "name-required",
                )
        if shapes.is_pod(tmpl):
            scope.add("pod.name")
        if tmpl.get("retryStrategy") is not None:
            scope.add(*RETRY_VARS)
        if shapes.is_leaf(tmpl):
            outputs = tmpl.get("outputs") or {}
            scope.add(
                *(
                    f"outputs.artifacts.{a.get('name')}.path"
                    for a in outputs.get("artifacts") or []
                    if a.get("path")
                )
            )
            scope.add(
                *(
                    f"outputs.parameters.{p.get('name')}.path"
                    for p in outputs.get("parameters") or []
                    if (p.get("valueFrom") or {}).get("path")
                )
            )
        try:
            arguments.check_supplied(tmpl, args)
        except Reject as e:
            raise Reject(f"templates.{name} {e.message}", f"{path}.inputs", e.rule) from None
        if tmpl.get("resourceClaims") and not shapes.is_pod(tmpl):
            msg = (
                f"templates.{name}.resourceClaims is not supported for "
                f"{kind} templates, which do not create a pod"
            )
            raise Reject(msg, f"{path}.resourceClaims", "leaf-only")
        timeout = tmpl.get("timeout")
        if timeout:
            if not shapes.is_leaf(tmpl):
                raise Reject(
                    f"{kind} template doesn't support timeout field", f"{path}.timeout", "leaf-only"
                )
            if str(timeout).lstrip("+-").isdigit():
                raise Reject(
                    f"{name} has invalid duration format in timeout", f"{path}.timeout", "timeout"
                )
        if tmpl.get("pendingTimeout") and not shapes.is_leaf(tmpl):
            raise Reject(
                f"{kind} template doesn't support pendingTimeout field",
                f"{path}.pendingTimeout",
                "leaf-only",
            )
        key = (id(ctx), str(name) if tmpl is not None and name is not None else "")
        if key in self.results:
            return
        self.results.add(key)
        scope.add(*self.globals)
        scope.any_output_artifact = scope.any_output_artifact or self.any_output_artifact
        tmpl = self._substituted(tmpl, args)
        if kind == "Steps":
            validate_steps(self, scope, ctx, tmpl, path)
        elif kind == "DAG":
            validate_dag(self, scope, ctx, tmpl, path)
        else:
            if bad := self.unresolved(tmpl, path, scope):
                raise Reject(
                    f"templates.{name}: failed to resolve {{{{{bad[1]}}}}}",
                    bad[0],
                    "unresolved-variable",
                )
            leaf.check_leaf(tmpl, path, ctx.defaults(), self.version)
        arguments.check_outputs(tmpl, path)
        if bad := self.unresolved(tmpl.get("outputs"), f"{path}.outputs", scope):
            raise Reject(
                f"templates.{name}.outputs failed to resolve {{{{{bad[1]}}}}}",
                bad[0],
                "unresolved-variable",
            )
        if tmpl.get("archiveLocation") is not None:
            prefix = f"templates.{name}.archiveLocation"
            arguments.check_location(prefix, tmpl["archiveLocation"], f"{path}.archiveLocation")
        leaf.check_metrics(tmpl, path)

    def _substituted(self, tmpl: dict[str, Any], args: arguments.Arguments) -> dict[str, Any]:
        """ProcessArgs: globals and locals, then inputs, replaced by their values."""
        local = {r: self.placeholder(r) for r in ("pod.name", *RETRY_VARS)}
        new: dict[str, Any] = variables.substitute(tmpl, {**self.globals, **local})
        values: dict[str, str] = {}
        inputs, outputs = new.get("inputs") or {}, new.get("outputs") or {}
        for p in inputs.get("parameters") or []:
            ref = f"inputs.parameters.{p.get('name')}"
            arg = args.parameter(str(p.get("name")))
            value = p.get("value") if p.get("value") is not None else p.get("default")
            if arg is not None and not args.fake:
                value = arg.get("value")
            if args.fake or value is None:
                values[ref] = self.placeholder(ref)
            else:
                values[ref] = shapes.any_string(value)
        values["inputs.parameters"] = self.placeholder("inputs.parameters")
        for what, items in (
            ("inputs.artifacts", inputs.get("artifacts")),
            ("outputs.artifacts", outputs.get("artifacts")),
        ):
            values.update(
                (f"{what}.{a.get('name')}.path", str(a["path"]))
                for a in items or []
                if a.get("path")
            )
        for p in outputs.get("parameters") or []:
            if (p.get("valueFrom") or {}).get("path"):
                values[f"outputs.parameters.{p.get('name')}.path"] = str(p["valueFrom"]["path"])
        result: dict[str, Any] = variables.substitute(new, values)
        return result

    def check_non_leaf(self, tmpl: dict[str, Any], path: str) -> None:
        """validateNonLeaf."""
        if tmpl.get("activeDeadlineSeconds") is not None:
            msg = (
                f"templates.{tmpl.get('name')}.activeDeadlineSeconds "
                "is only valid for leaf templates"
            )
            raise Reject(msg, f"{path}.activeDeadlineSeconds", "leaf-only")

    def add_outputs(
        self,
        tmpl: dict[str, Any] | None,
        kind: str,
        name: str,
        scope: Scope,
        *,
        aggregate: bool,
        ancestor: bool,
    ) -> None:
        """addOutputsToScope: what `steps.NAME.*` / `tasks.NAME.*` may be used after it."""
        ref = f"{kind}.{name}"
        scope.add(f"{ref}.id", f"{ref}.startedAt", f"{ref}.finishedAt", f"{ref}.hostNodeName")
        if ancestor:
            scope.add(f"{ref}.status")
        if tmpl is None:
            return
        if tmpl.get("daemon"):
            scope.add(f"{ref}.ip")
        if shapes.has_output(tmpl):
            scope.add(f"{ref}.outputs.result", f"{ref}.exitCode")
        outputs = tmpl.get("outputs") or {}
        for what in ("parameters", "artifacts"):
            for item in outputs.get(what) or []:
                scope.add(f"{ref}.outputs.{what}.{item.get('name')}")
                g = item.get("globalName")
                if g and not names.is_parameter(g):
                    scope.add(f"workflow.outputs.{what}.{g}")
                    self.add_global(f"workflow.outputs.{what}.{g}")
                elif g and what == "parameters":
                    scope.any_output_parameter = True
                elif g:
                    scope.any_output_artifact = True
        if aggregate:
            if shapes.kind(tmpl) in ("Script", "ContainerSet"):
                scope.add(f"{ref}.outputs.result", f"{ref}.exitCode")
            scope.add(f"{ref}.outputs.parameters")

    def add_items(self, step: dict[str, Any], scope: Scope) -> None:
        """addItemsToScope."""
        items, param, seq = step.get("withItems"), step.get("withParam"), step.get("withSequence")
        if sum(1 for x in (items, param, seq is not None) if x) > 1:
            raise Reject(
                "only one of withItems, withParam, withSequence can be specified", "", "with-items"
            )
        if items:
            for item in items:
                if isinstance(item, list):
                    scope.add(*(f"item.[{i}]" for i in range(len(item))))
                elif isinstance(item, dict):
                    scope.add(*(f"item.{k}" for k in item))
                else:
                    scope.add("item")
        elif param:
            scope.add("item")
            scope.any_item = True
        elif seq is not None:
            if seq.get("count") is not None and seq.get("end") is not None:
                raise Reject(
                    "only one of count or end can be defined in withSequence", "", "with-sequence"
                )
            scope.add("item")


def check_pod_resources(prefix: str, res: dict[str, Any], path: str) -> None:
    """validatePodResources: cpu, memory and hugepages-* only, no claims."""
    if res.get("claims"):
        raise Reject(
            f"{prefix}.claims is not supported for pod-level resources", path, "pod-resources"
        )
    for what in ("limits", "requests"):
        for name in res.get(what) or {}:
            if name not in ("cpu", "memory") and not str(name).startswith("hugepages-"):
                msg = (
                    f'{prefix}: "{name}" is not a valid pod-level resource, only '
                    "cpu, memory and hugepages-* are supported"
                )
                raise Reject(msg, f"{path}.{what}", "pod-resources")
