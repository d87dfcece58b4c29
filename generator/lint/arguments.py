"""Arguments, inputs and outputs (validate.go: validateArguments, validateInputs,
validateOutputs, validateOutputParameter, validateArtifactLocation; workflow/common/util.go
ProcessArgs for 'was not supplied')."""

from __future__ import annotations

import posixpath
from typing import Any

from generator.lint import names, shapes
from generator.lint.problem import Reject
from generator.lint.variables import Scope

LOCATIONS = ("s3", "git", "http", "artifactory", "hdfs", "raw", "oss", "gcs", "azure", "plugin")
VALUE_FROM_OUTPUT = ("path", "jqFilter", "jsonPath", "parameter", "expression")


def has_location(art: dict[str, Any]) -> bool:
    """ArtifactLocation.HasLocationOrKey, as far as the YAML alone tells."""
    return any(art.get(k) is not None for k in LOCATIONS)


def check_arguments(prefix: str, args: Any, path: str, allow_empty: bool) -> None:
    """validateArguments: names, then every parameter has a value, every artifact a source."""
    args = args or {}
    for field in ("parameters", "artifacts"):
        names.check_list(args.get(field), f"{path}.{field}", f"{prefix}{field}", params=True)
    for i, p in enumerate(args.get("parameters") or []):
        here, name, vf = f"{path}.parameters[{i}]", p.get("name"), p.get("valueFrom")
        if vf is None and p.get("value") is None and not allow_empty:
            msg = f"{prefix}{name}.value or {prefix}{name}.valueFrom is required"
            raise Reject(msg, here, "argument-value-required")
        if vf is not None:
            bad = not (
                vf.get("configMapKeyRef") or vf.get("event") or vf.get("supplied") is not None
            )
            if bad or any(vf.get(k) for k in ("path", "jsonPath", "parameter", "expression")):
                msg = f"{prefix}{name}.valueFrom only allows: default, configMapKeyRef and supplied"
                raise Reject(msg, f"{here}.valueFrom", "argument-value-from")
        if p.get("enum") is not None:
            if not p["enum"]:
                msg = f"{prefix}{name}.enum should contain at least one value"
                raise Reject(msg, f"{here}.enum", "argument-enum")
            if p.get("value") is None:
                if allow_empty:
                    return
                raise Reject(f"{prefix}{name}.value is required", here, "argument-enum")
            if shapes.any_string(p["value"]) not in [shapes.any_string(e) for e in p["enum"]]:
                msg = f"{prefix}{name}.value should be present in {prefix}{name}.enum list"
                raise Reject(msg, f"{here}.value", "argument-enum")
    for i, a in enumerate(args.get("artifacts") or []):
        here, name = f"{path}.artifacts[{i}]", a.get("name")
        if not a.get("from") and not has_location(a):
            msg = f"{prefix}{name}.from, artifact location, or key is required"
            raise Reject(msg, here, "argument-artifact-source")
        if a.get("from") and a.get("fromExpression"):
            msg = f"{prefix}{name} shouldn't have both `from` and `fromExpression` in Artifact"
            raise Reject(msg, here, "argument-artifact-source")


def clean_path_error(art: dict[str, Any]) -> str | None:
    """Artifact.CleanPath: a path is required and may not climb out with '..'."""
    name, path = art.get("name"), art.get("path") or ""
    if not path:
        return f"Artifact '{name}' did not specify a path"
    safe = ""
    if "/../" in path:
        safe = path.split("/../", 1)[0]
    elif path.endswith("/.."):
        safe = path[:-3]
    cleaned = posixpath.normpath(path)
    if safe and (not cleaned.startswith(safe + "/") or len(cleaned) <= len(safe) + 1):
        return (
            f"Artifact '{name}' attempted to use a path containing "
            "'..'. Directory traversal is not permitted"
        )
    return None


def check_location(prefix: str, loc: dict[str, Any], path: str) -> None:
    """validateArtifactLocation: git needs a repo; HDFS (workflow/artifacts/hdfs
    ValidateArtifact) addresses, an absolute path and a user or Kerberos secrets."""
    git = loc.get("git")
    if git is not None and not git.get("repo"):
        raise Reject(f"{prefix}.git.repo is required", f"{path}.git", "artifact-location")
    if loc.get("hdfs") is not None and (err := _hdfs_error(f"{prefix}.hdfs", loc["hdfs"])):
        raise Reject(err, f"{path}.hdfs", "artifact-location")


def _hdfs_error(p: str, h: dict[str, Any]) -> str | None:
    if not h.get("addresses"):
        return f"{p}.addresses is required"
    if not h.get("path"):
        return f"{p}.path is required"
    if not str(h["path"]).startswith("/"):
        return f"{p}.path must be a absolute file path"
    ccache, keytab = h.get("krbCCacheSecret") is not None, h.get("krbKeytabSecret") is not None
    if not h.get("hdfsUser") and not ccache and not keytab:
        return f"either {p}.hdfsUser, {p}.krbCCacheSecret or {p}.krbKeytabSecret is required"
    principal, config = h.get("krbServicePrincipalName"), h.get("krbConfigConfigMap") is not None
    if keytab and not (principal and config and h.get("krbUsername") and h.get("krbRealm")):
        return (
            f"{p}.krbServicePrincipalName, {p}.krbConfigConfigMap, {p}.krbUsername and"
            f" {p}.krbRealm are required with {p}.krbKeytabSecret"
        )
    if ccache and not (principal and config):
        return (
            f"{p}.krbServicePrincipalName and {p}.krbConfigConfigMap are required with"
            f" {p}.krbCCacheSecret"
        )
    return None


def input_scope(tmpl: dict[str, Any], path: str) -> Scope:
    """validateInputs: names and artifact rules; the input references a template may use."""
    name, inputs = tmpl.get("name"), tmpl.get("inputs") or {}
    prefix = f"templates.{name}.inputs"
    names.check_list(
        inputs.get("parameters"), f"{path}.inputs.parameters", f"{prefix}.parameters", params=True
    )
    names.check_list(
        inputs.get("artifacts"), f"{path}.inputs.artifacts", f"{prefix}.artifacts", params=True
    )
    scope = Scope()
    params = inputs.get("parameters") or []
    scope.add(*(f"inputs.parameters.{p['name']}" for p in params))
    if params:
        scope.add("inputs.parameters")
    leaf = shapes.is_leaf(tmpl)
    for i, art in enumerate(inputs.get("artifacts") or []):
        ref, here = f"inputs.artifacts.{art['name']}", f"{path}.inputs.artifacts[{i}]"
        scope.add(ref)
        if leaf:
            if err := clean_path_error(art):
                raise Reject(f"error in templates.{name}.{ref}: {err}", here, "artifact-path")
            scope.add(f"{ref}.path")
        elif art.get("path"):
            msg = f"templates.{name}.{ref}.path only valid in container/script templates"
            raise Reject(msg, here, "artifact-path")
        if art.get("from"):
            raise Reject(f"templates.{name}.{ref}.from not valid in inputs", here, "artifact-from")
        check_location(f"templates.{name}.{ref}", art, here)
    return scope


def check_outputs(tmpl: dict[str, Any], path: str) -> None:
    """validateOutputs without the reference check (the caller resolves references)."""
    name, outputs = tmpl.get("name"), tmpl.get("outputs") or {}
    prefix = f"templates.{name}.outputs"
    names.check_list(
        outputs.get("parameters"),
        f"{path}.outputs.parameters",
        f"{prefix}.parameters ",
        params=True,
    )
    names.check_list(
        outputs.get("artifacts"), f"{path}.outputs.artifacts", f"{prefix}.artifacts ", params=True
    )
    leaf, kind = shapes.is_leaf(tmpl), shapes.kind(tmpl)
    for i, art in enumerate(outputs.get("artifacts") or []):
        ref, here = f"outputs.artifacts.{art.get('name')}", f"{path}.outputs.artifacts[{i}]"
        if leaf:
            if err := clean_path_error(art):
                raise Reject(f"error in templates.{name}.{ref}: {err}", here, "artifact-path")
        elif art.get("path"):
            msg = f"templates.{name}.{ref}.path only valid in container/script templates"
            raise Reject(msg, here, "artifact-path")
        _global_name(art, f"templates.{name}.{ref}", here)
    for i, p in enumerate(outputs.get("parameters") or []):
        ref, here = (
            f"templates.{name}.outputs.parameters.{p.get('name')}",
            f"{path}.outputs.parameters[{i}]",
        )
        _output_parameter(ref, p, here)
        vf = p.get("valueFrom")
        if vf is not None:
            if kind in ("Container", "ContainerSet", "Script") and not vf.get("path"):
                raise Reject(
                    f"{ref}.path must be specified for {kind} templates", here, "output-value-from"
                )
            if kind == "Resource" and not (vf.get("jqFilter") or vf.get("jsonPath")):
                msg = f"{ref} .jqFilter or jsonPath must be specified for {kind} templates"
                raise Reject(msg, here, "output-value-from")
            if kind in ("DAG", "Steps"):
                if not (vf.get("parameter") or vf.get("expression")):
                    msg = f"{ref}.parameter or expression must be specified for {kind} templates"
                    raise Reject(msg, here, "output-value-from")
                if vf.get("parameter") and vf.get("expression"):
                    msg = (
                        f"{ref} shouldn't have both `from` and `expression` "
                        f"specified in `ValueFrom` for {kind} templates"
                    )
                    raise Reject(msg, here, "output-value-from")
        _global_name(p, ref, here)


def _global_name(item: dict[str, Any], ref: str, here: str) -> None:
    g = item.get("globalName")
    if g and not names.is_parameter(g) and (errs := names.param_name_errors(g)):
        raise Reject(f"{ref}.globalName: {errs[0]}", f"{here}.globalName", "name-invalid")


def _output_parameter(ref: str, p: dict[str, Any], here: str) -> None:
    vf = p.get("valueFrom")
    if vf is not None and p.get("value") is not None:
        msg = f"{ref} has both valueFrom and value specified, choose one"
        raise Reject(msg, here, "output-value-from")
    if p.get("value") is not None:
        return
    if vf is None:
        raise Reject(f"{ref} does not have valueFrom or value specified", here, "output-value-from")
    count = sum(1 for k in VALUE_FROM_OUTPUT if vf.get(k)) + (vf.get("supplied") is not None)
    if count == 0:
        msg = (
            "valueFrom type unspecified. choose one of: path, "
            "jqFilter, jsonPath, parameter, raw, expression"
        )
        raise Reject(msg, f"{here}.valueFrom", "output-value-from")
    if count > 1:
        msg = (
            "multiple valueFrom types specified. choose one of: "
            "path, jqFilter, jsonPath, parameter, raw"
        )
        raise Reject(msg, f"{here}.valueFrom", "output-value-from")


class Arguments:
    """What a caller passes a template (wfv1.ArgumentsProvider): real arguments, or Argo's
    FakeArguments (every name supplied) when a template is validated on its own."""

    def __init__(self, args: dict[str, Any] | None) -> None:
        self.fake = args is None
        self.args = args or {}

    def parameter(self, name: str) -> dict[str, Any] | None:
        """The argument parameter named so, if supplied."""
        if self.fake:
            return {"name": name, "value": "placeholder"}
        return next((p for p in self.args.get("parameters") or [] if p.get("name") == name), None)

    def artifact(self, name: str) -> dict[str, Any] | None:
        """The argument artifact named so, if supplied."""
        if self.fake:
            return {"name": name}
        return next((a for a in self.args.get("artifacts") or [] if a.get("name") == name), None)


def check_supplied(tmpl: dict[str, Any], args: Arguments) -> None:
    """ProcessArgs: every input parameter has a value (argument, value or default), every
    input artifact without a location is passed."""
    inputs = tmpl.get("inputs") or {}
    for p in inputs.get("parameters") or []:
        value, value_from = p.get("value"), p.get("valueFrom")
        if value is None:
            value = p.get("default")
        arg = args.parameter(p.get("name", ""))
        if arg is not None:
            value, value_from = (
                arg.get("value"),
                None if arg.get("value") is not None else arg.get("valueFrom"),
            )
        if not (value_from or {}).get("configMapKeyRef") and value is None:
            raise Reject(
                f"inputs.parameters.{p.get('name')} was not supplied",
                "inputs",
                "input-not-supplied",
            )
    for a in inputs.get("artifacts") or []:
        if (
            not a.get("optional")
            and not has_location(a)
            and args.artifact(a.get("name", "")) is None
        ):
            raise Reject(
                f"inputs.artifacts.{a.get('name')} was not supplied", "inputs", "input-not-supplied"
            )
