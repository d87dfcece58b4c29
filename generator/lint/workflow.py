"""One Argo document validated as validate.go's Workflow, WorkflowTemplate,
ClusterWorkflowTemplate and CronWorkflow functions do, with `argo lint`'s options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from generator.lint import arguments, cron, names, shapes
from generator.lint.arguments import Arguments
from generator.lint.problem import NOTE, Problem, Reject
from generator.lint.templates import Library, Source, Validator, check_pod_resources

MAX_NAME = 63
MAX_CRON_NAME = 52  # the controller appends "-<unix time>" to a CronWorkflow's name
POD_GC = ("", "OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess")
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
NAME_LIMITS = {
    "Workflow": ("workflow name", MAX_NAME),
    "WorkflowTemplate": ("workflow template name", MAX_NAME),
    "ClusterWorkflowTemplate": ("cluster workflow template name", MAX_NAME),
    "CronWorkflow": ("cron workflow name", MAX_CRON_NAME),
}


# fields of Go type string that the rules read; sigs.k8s.io/yaml hands Go a YAML number or
# boolean written there as its text, so the rules get text too
STRING_FIELDS = frozenset(
    {
        *("name", "path", "globalName", "template", "depends", "dependencies", "target"),
        *("image", "action", "timeout", "pendingTimeout", "entrypoint", "onExit"),
        *("mountPath", "from", "key", "help", "parameter", "expression", "withParam"),
        *("when", "manifest", "repo", "strategy", "operator"),
    }
)


def as_go(node: Any, key: str = "") -> Any:
    """The document with scalars of string fields as text."""
    if isinstance(node, dict):
        return {k: as_go(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [as_go(v, key) for v in node]
    if key in STRING_FIELDS and isinstance(node, int | float | bool):
        return shapes.any_string(node)
    return node


def source_of(doc: dict[str, Any], file: str) -> Source:
    """The document as a holder of templates."""
    kind, meta = str(doc.get("kind")), doc.get("metadata") or {}
    if kind == "CronWorkflow":
        spec, base = (doc.get("spec") or {}).get("workflowSpec") or {}, "spec.workflowSpec"
    else:
        spec, base = doc.get("spec") or {}, "spec"
    return Source(kind, str(meta.get("name") or meta.get("generateName") or ""), spec, base, file)


def validate(
    doc: dict[str, Any], file: str, library: Library, *, submit: bool, version: str
) -> list[Problem]:
    """Every problem Argo's validator finds in one document, and the notes of what it could
    not check. Argo stops at the first error; so does each part here (the entrypoint, the
    exit handler, each template), which names every broken template once."""
    doc = as_go(doc)
    kind, meta = doc["kind"], doc.get("metadata") or {}
    source = source_of(doc, file)
    label, limit = NAME_LIMITS[kind]
    name = str(meta.get("name") or "")
    problems = []
    if len(name) > limit:
        msg = (
            f'{label} "{name}" must not be more than {limit} '
            f"characters long (currently {len(name)})"
        )
        problems.append(Problem(file, "metadata.name", msg, "name-too-long"))
    template_validation = kind in ("WorkflowTemplate", "ClusterWorkflowTemplate")
    if kind == "CronWorkflow":
        try:
            cron.check(doc.get("spec") or {}, version)
        except Reject as e:
            problems.append(Problem(file, e.path, e.message, e.rule))
        submit = True  # validate.CronWorkflow validates its workflow with Opts{}
    labels = dict(meta.get("labels") or {})
    annotations = dict(meta.get("annotations") or {})
    if kind == "CronWorkflow":
        wf_meta = (doc.get("spec") or {}).get("workflowMetadata") or {}
        labels = {"workflows.argoproj.io/cron-workflow": name, **(wf_meta.get("labels") or {})}
        annotations = {
            "workflows.argoproj.io/scheduled-time": "",
            **(wf_meta.get("annotations") or {}),
        }
    validator = Validator(source, library, template_validation, version)
    for part in _parts(validator, source, labels, annotations, submit=submit):
        try:
            part()
        except Reject as e:
            message = (
                f"cannot validate Workflow: {e.message}" if kind == "CronWorkflow" else e.message
            )
            problems.append(Problem(file, e.path, message, e.rule))
    return problems + validator.notes


def _parts(
    v: Validator,
    source: Source,
    labels: dict[str, Any],
    annotations: dict[str, Any],
    *,
    submit: bool,
) -> list[Callable[[], None]]:
    """The parts Argo validates in turn: header, entrypoint, exit handler, the rest, then
    each template on its own."""
    spec, base = source.spec, source.base
    ref = spec.get("workflowTemplateRef")
    holder_source = source
    if ref is not None:
        if spec.get("templates"):
            msg = (
                "Templates is invalid field in spec if workflow referred WorkflowTemplate reference"
            )
            return [lambda: _raise(Reject(msg, f"{base}.templates", "workflow-template-ref"))]
        found = v.library.get((bool(ref.get("clusterScope")), str(ref.get("name"))))
        if found is None:
            kind = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
            msg = f"{kind} {ref.get('name')!r} is not among the files given: not checked"
            where = f"{base}.workflowTemplateRef"
            v.notes.append(Problem(v.doc.file, where, msg, "template-ref-not-given", NOTE))
            return []
        holder_source = found
    ref_spec = holder_source.spec if ref is not None else {}
    entrypoint = spec.get("entrypoint") or ref_spec.get("entrypoint")
    args = dict(spec.get("arguments") or {})
    if ref is not None:
        for what in ("parameters", "artifacts"):
            mine = list(args.get(what) or [])
            have = {p.get("name") for p in mine}
            args[what] = mine + [
                p
                for p in (ref_spec.get("arguments") or {}).get(what) or []
                if p.get("name") not in have
            ]
    template_validation = v.template_validation
    allow_empty = not submit

    _globals(v, spec, ref_spec, args, labels, annotations)

    def header() -> None:
        names.check_list(spec.get("templates"), f"{base}.templates", "spec.templates", params=False)
        arguments.check_arguments("spec.arguments.", args, f"{base}.arguments", allow_empty)
        if not entrypoint and not (template_validation and not spec.get("entrypoint")):
            raise Reject("spec.entrypoint is required", f"{base}.entrypoint", "entrypoint-required")

    def entry() -> None:
        if not entrypoint:
            return
        holder = _holder(ref, entrypoint)
        provided = Arguments(None) if template_validation else Arguments(args)
        v.holder(holder, source, provided, f"{base}.entrypoint")

    def on_exit() -> None:
        handler = spec.get("onExit") or ref_spec.get("onExit")
        if not handler:
            return
        v.add_global("workflow.failures")
        v.any_output_artifact = any(
            names.is_parameter(str(a.get("globalName") or ""))
            for s in (spec, ref_spec)
            for t in s.get("templates") or []
            for a in (t.get("outputs") or {}).get("artifacts") or []
        )
        v.holder(
            _holder(ref, handler), source, Arguments(spec.get("arguments") or {}), f"{base}.onExit"
        )

    def rest() -> None:
        for hook, h in (spec.get("hooks") or {}).items():
            if hook != "exit" and not (h or {}).get("expression"):
                raise Reject(
                    f"hooks.{hook} Expression required", f"{base}.hooks.{hook}", "hook-expression"
                )
        gc = spec.get("podGC") or {}
        if str(gc.get("strategy") or "") not in POD_GC:
            raise Reject(
                f"podGC.strategy unknown strategy '{gc['strategy']}'",
                f"{base}.podGC.strategy",
                "enum",
            )
        if err := _selector_error(gc.get("labelSelector") or {}):
            msg = f"podGC.labelSelector invalid: {err}"
            raise Reject(msg, f"{base}.podGC.labelSelector", "pod-gc")
        if spec.get("podResources") is not None:
            check_pod_resources("spec.podResources", spec["podResources"], f"{base}.podResources")

    def each(t: dict[str, Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                v.holder(
                    _holder(ref, str(t.get("name") or "")),
                    source,
                    Arguments(None),
                    f"{base}.templates",
                )
            except Reject as e:
                raise e.wrap(f"templates.{t.get('name')}") from None

        return run

    templates = holder_source.spec.get("templates") or []
    return [header, entry, on_exit, rest, *(each(t) for t in templates if isinstance(t, dict))]


def _selector_error(selector: dict[str, Any]) -> str | None:
    """metav1.LabelSelectorAsSelector: operators and their values (label syntax left out)."""
    for e in selector.get("matchExpressions") or []:
        op, values = e.get("operator"), e.get("values") or []
        if op not in SELECTOR_OPERATORS:
            return f'"{op}" is not a valid label selector operator'
        if op in ("In", "NotIn") and not values:
            return "for 'in', 'notin' operators, values set can't be empty"
        if op in ("Exists", "DoesNotExist") and values:
            return "values set must be empty for exists and does not exist"
    return None


def _raise(e: Reject) -> None:
    raise e


def _holder(ref: dict[str, Any] | None, template: str) -> dict[str, Any]:
    if ref is None:
        return {"template": template}
    return {
        "templateRef": {
            "name": ref.get("name"),
            "template": template,
            "clusterScope": ref.get("clusterScope"),
        }
    }


def _globals(
    v: Validator,
    spec: dict[str, Any],
    ref_spec: dict[str, Any],
    args: dict[str, Any],
    labels: dict[str, Any],
    annotations: dict[str, Any],
) -> None:
    for ref in ("name", "namespace", "mainEntrypoint", "serviceAccountName", "uid", "status"):
        v.add_global(f"workflow.{ref}")
    if args.get("parameters"):
        v.add_global("workflow.parameters")
        v.add_global("workflow.parameters.json")
    for p in args.get("parameters") or []:
        if p.get("name"):
            v.add_global(f"workflow.parameters.{p['name']}", p.get("value"))
    label_keys, annotation_keys = set(labels), set(annotations)
    for s in (spec, ref_spec):
        md = s.get("workflowMetadata") or {}
        annotation_keys |= set(md.get("annotations") or {})
        label_keys |= set(md.get("labels") or {}) | set(md.get("labelsFrom") or {})
    for what, keys in (("annotations", annotation_keys), ("labels", label_keys)):
        for k in sorted(keys):
            v.add_global(f"workflow.{what}.{k}")
        v.add_global(f"workflow.{what}")
        v.add_global(f"workflow.{what}.json")
    if spec.get("priority") is not None:
        v.add_global("workflow.priority", spec["priority"])
