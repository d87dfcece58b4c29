"""The comment that heads a generated workflow: what a reviewer approves, at a glance.

Everything below it is the detail a reviewer can check it against: the script (once, in the
worker template's `script` artifact), the resources, the Secrets by name (never values).
"""

from __future__ import annotations

from generator import __version__
from generator.bucket import identity
from generator.spec.model import BatchSpec


def _where(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{prefix}"


def header(spec: BatchSpec, endpoint: str) -> str:
    """A few `#` lines: service, files in and out, width and resources, when it fails."""
    s, who = spec.service, identity.of(spec)
    lines = s.script.count("\n") + (0 if s.script.endswith("\n") else 1)
    env = ", ".join(f"{k}={v}" for k, v in sorted(s.env.items()))
    secrets = [spec.input.credentials_secret, *([s.secret_name] if s.secret_env else [])]
    globs = " ".join(spec.input.include) + "".join(f" !{g}" for g in spec.input.exclude)
    rows = [
        f"oscar-batch {__version__}: {spec.argo.kind} {spec.name} (review summary)",
        f"service  {s.name}: image {s.image}",
        f"         script sha256 {who.script_sha256[:12]}, {lines} line(s): the worker"
        " template's `script` artifact below",
        *([f"         env {env}"] if env else []),
        *([f"         secret env {', '.join(s.secret_env)}"] if s.secret_env else []),
        f"input    {_where(spec.input.bucket, spec.input.prefix)} {globs} at {endpoint}",
        f"output   {_where(spec.output_bucket, spec.output.prefix)}<run>/"
        f" (default run {identity.default_run(spec)})",
        f"workers  up to {spec.planning.max_workers}, each {s.cpu} CPU, {s.memory} memory"
        + (f", {s.gpu} GPU" if s.gpu else "")
        + f"; {spec.worker.invoke} mode; a file may take {spec.worker.file_timeout} s",
        "fails    when "
        + (
            f"more than {spec.failure.max_failed_ratio:.1%} of the files fail"
            if spec.failure.max_failed_ratio
            else "any file fails"
        ),
        f"secrets  {', '.join(secrets)} (by name; values live in the cluster)",
    ]
    return "".join(f"# {row}\n" for row in rows)
