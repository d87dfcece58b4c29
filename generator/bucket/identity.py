"""The identity of what processes a run's files, what the run is over, and the default run
name derived from both.

A run resumes by name, so a name that ignores the model would resume a v1 run with v2 and
label v1's outputs as v2's. The identity is what decides a file's outputs: the image (its
digest when the spec pins one as `image@sha256:...`), the script's bytes and the service
environment (secret values by name only). Resources (cpu, memory, gpu), the log level and
how files are grouped per invocation (worker.invoke, worker.batch_size) are left out: they
change speed and placement, not what a correct script computes from a file. Registries are
not consulted: a tag that moves is only noticed when the spec pins the digest.

What a run is over (its `scope`: input bucket, prefix and globs) is part of the run name too:
outputs are stored under the key relative to the prefix, so two prefixes' `x.jpg` would
share one outputs folder, and the second plan would replace the first's index and report.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from generator.spec.model import BatchSpec

ENV = "OSCAR_BATCH_IDENTITY"  # the runner writes its value as `identity VALUE` in each result
FINGERPRINT_CHARS = 10  # 40 bits: distinct across the few versions one spec name ever sees


@dataclass(frozen=True)
class Identity:
    image: str
    digest: str | None
    script_sha256: str
    env: dict[str, str]
    secret_env: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]

    def record(self) -> dict[str, Any]:
        """What plan.json keeps (and `runs` shows)."""
        return {**asdict(self), "secret_env": list(self.secret_env), "id": self.fingerprint}

    def summary(self) -> str:
        """One short line: image, script hash, env."""
        env = " ".join(f"{k}={v}" for k, v in sorted(self.env.items()))
        return f"{self.image} script {self.script_sha256[:8]}" + (f" {env}" if env else "")


def of(spec: BatchSpec) -> Identity:
    """The identity of a spec's service (pure)."""
    image = spec.service.image
    _, at, digest = image.partition("@")
    return Identity(
        image=image,
        digest=digest if at and digest.startswith("sha256:") else None,
        script_sha256=spec.service.script_ref.sha256
        if spec.service.script_ref
        else hashlib.sha256(spec.service.script.encode("utf-8")).hexdigest(),
        env=dict(sorted(spec.service.env.items())),
        secret_env=tuple(sorted(spec.service.secret_env)),
    )


def scope(spec: BatchSpec) -> dict[str, Any]:
    """What a run is over (pure): plan.json keeps it, a run over anything else is refused."""
    found: dict[str, Any] = {
        "bucket": spec.input.bucket,
        "prefix": spec.input.prefix,
        "include": list(spec.input.include),
        "exclude": list(spec.input.exclude),
    }
    if spec.output.layout == "oscar":
        # the outputs are not in the run folder: a run that stored them elsewhere (layout run,
        # other output paths) must not be resumed as if its files were done here
        found["outputs"] = [f"s3://{t.bucket}/{t.prefix}" for t in spec.output.targets]
    return found


def scope_line(record: dict[str, Any]) -> str:
    """`s3://bucket/prefix` with its globs when they are not the default (`*`)."""
    globs = [*record.get("include", ["*"]), *(f"!{g}" for g in record.get("exclude", []))]
    shown = "" if globs == ["*"] else f" ({' '.join(globs)})"
    outputs = record.get("outputs")
    stored = f" -> {' '.join(map(str, outputs))}" if isinstance(outputs, list) else ""
    return f"s3://{record.get('bucket')}/{record.get('prefix')}{shown}{stored}"


def default_run(spec: BatchSpec) -> str:
    """`<spec name>-<10 hex>` of the service version and the scope: a new model version or
    another input folder starts a new run, the same ones resume."""
    canonical = json.dumps([of(spec).fingerprint, scope(spec)], sort_keys=True)
    return f"{spec.name}-{hashlib.sha256(canonical.encode()).hexdigest()[:FINGERPRINT_CHARS]}"


def changes(recorded: dict[str, Any], now: Identity) -> list[str]:
    """What differs between a plan.json identity record and the spec's, e.g. `image a -> b`."""
    out = []
    if recorded.get("image") != now.image:
        out.append(f"image {recorded.get('image')} -> {now.image}")
    if recorded.get("script_sha256") != now.script_sha256:
        before = str(recorded.get("script_sha256") or "?")[:8]
        out.append(f"script {before} -> {now.script_sha256[:8]}")
    old_env: dict[str, str] = recorded.get("env") or {}
    for name in sorted(set(old_env) | set(now.env)):
        if name not in now.env:
            out.append(f"env {name} removed")
        elif name not in old_env:
            out.append(f"env {name}={now.env[name]} added")
        elif old_env[name] != now.env[name]:
            out.append(f"env {name} {old_env[name]} -> {now.env[name]}")
    old_secret = set(recorded.get("secret_env") or ())
    if old_secret != set(now.secret_env):
        out.append(f"secret env {sorted(old_secret)} -> {sorted(now.secret_env)}")
    if not out and recorded.get("id") != now.fingerprint:
        out.append(f"identity {recorded.get('id')} -> {now.fingerprint}")
    return out
