"""What is reviewed is what runs: the pod sees exactly the spec's bytes after Argo's `{{...}}`
substitution and Kubernetes' `$(VAR)`/`$$` expansion, or generation refuses with one line.

The two substitutions are applied here by a minimal stand-in of each (Kubernetes:
third_party/forked/golang/expansion Expand; Argo: fill the workflow's own tags, refuse any
other `{{`, as util/template does for strict tags).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generator.build import workflow
from generator.cli import app
from generator.spec import model as spec
from tests.conftest import write_spec

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def kube_expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of env values, command and args: `$$` -> `$`, `$(NAME)` -> the
    value when NAME is defined (else left as written), any other `$` kept."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                name = text[i + 2 : end] if end > 0 else ""
                if end > 0 and NAME.fullmatch(name):
                    out.append(env.get(name, f"$({name})"))
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


def argo_substitute(text: str, values: dict[str, str]) -> str:
    for tag, value in values.items():
        text = text.replace(tag, value)
    assert "{{" not in text, f"Argo would substitute or refuse: {text[:80]!r}"
    return text


TAGS = {
    workflow.RUN: "run-1",
    workflow.SHARD: "0003",
    workflow.FORCE: "false",
    workflow.OTHER_VERSION: "false",
    workflow.UID: "u-1",
}
HOSTILE_SCRIPT = (
    '#!/bin/sh\necho "pid $$ at $(date) in $(HOME) and ${HOME}"\n'
    'printf \'%s\' "$$(INPUT_FILE_PATH)" > "$TMP_OUTPUT_DIR/x"\n'
)
SPEC = """
name: subst
service:
  name: s
  image: alpine
  script: script.sh
  env: {PRICE: "costs $5 or $$5", REF: "$(HOME) and $(PRICE)", PLAIN: "a b"}
input: {bucket: data, prefix: "in/", include: ["*{{*", "*.jpg"]}
"""


def _pod_view(
    doc: dict[str, Any], template: str, sidecar: str = ""
) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """env, command and raw artifacts of a template as its container (or the named sidecar)
    receives them."""
    t = next(t for t in doc["spec"]["templates"] if t["name"] == template)
    c = next(s for s in t["sidecars"] if s["name"] == sidecar) if sidecar else t["container"]
    env: dict[str, str] = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = kube_expand(argo_substitute(e["value"], TAGS), env)
    command = [kube_expand(argo_substitute(w, TAGS), env) for w in c["command"]]
    raw = {
        a["name"]: argo_substitute(a["raw"]["data"], TAGS)
        for a in t.get("inputs", {}).get("artifacts", [])
        if "raw" in a
    }
    return env, command, raw


def test_the_pod_sees_the_spec_bytes(tmp_path: Path) -> None:
    s = spec.load(write_spec(tmp_path, SPEC, HOSTILE_SCRIPT))
    doc = yaml.safe_load(workflow.to_yaml(s))
    _, command, raw = _pod_view(doc, "worker")
    env, dispatcher, _ = _pod_view(doc, "worker", "service")
    for name, value in s.service.env.items():
        assert env[name] == value
    assert raw["script"] == HOSTILE_SCRIPT
    assert command[:2] == ["sh", "-c"] and "$$" not in command[2]  # the runner as rendered
    assert dispatcher[:2] == ["sh", "-c"] and "$$" not in dispatcher[2]
    mounts = next(t for t in doc["spec"]["templates"] if t["name"] == "worker")["sidecars"][1:]
    for sidecar in mounts:
        words = [kube_expand(w, {}) for w in sidecar["command"]]
        assert "$child" in words[2] and "$$" not in words[2]
    for stage in ("plan", "aggregate"):
        _, _, stage_raw = _pod_view(doc, stage)
        assert json.loads(stage_raw["spec"]) == s.for_stages().model_dump(mode="json")


@pytest.mark.parametrize(
    ("where", "spec_text", "script", "message"),
    [
        ("script", SPEC.replace('"*{{*", ', ""), "docker inspect -f '{{.Id}}' x\n", "service.script contains '{{'"),
        ("env", SPEC.replace("a b", "{{workflow.name}}"), "true\n", "environment variable PLAIN contains '{{'"),
    ],
)  # fmt: skip
def test_values_argo_would_substitute_are_refused_in_one_line(
    tmp_path: Path, where: str, spec_text: str, script: str, message: str
) -> None:
    path = write_spec(tmp_path, spec_text, script)
    out = CliRunner().invoke(app, ["generate", str(path)])
    assert out.exit_code == 1 and out.stdout == ""
    assert message in out.stderr and out.stderr.count("\n") == 1
