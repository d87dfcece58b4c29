"""The runs in an output bucket: name, which service version made them, when, and how they ended.

Read from each run folder's plan.json (identity, date), report.json (counts, verdict) and
lock.json (in progress); one small read each, whatever the runs' sizes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from generator.bucket import identity
from generator.bucket.reader import Store
from generator.spec.model import BatchSpec


@dataclass(frozen=True)
class RunInfo:
    run: str
    spec: str | None
    identity: str | None
    service: str  # the identity in one line (image, script hash, env)
    created: float | None
    planned: int | None
    succeeded: int | None
    failed: int | None
    missing: int | None
    state: str  # passed | failed | in progress | planned | no plan
    current: bool  # made by the spec's service version as it is now

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _json(store: Store, key: str) -> dict[str, Any]:
    data = store.read(key)
    if data is None:
        return {}
    try:
        parsed = json.loads(data)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _service_line(record: dict[str, Any]) -> str:
    if not record:
        return "(not recorded)"
    env = " ".join(f"{k}={v}" for k, v in sorted((record.get("env") or {}).items()))
    script = str(record.get("script_sha256") or "?")[:8]
    return f"{record.get('image')} script {script}" + (f" {env}" if env else "")


def list_runs(store: Store, spec: BatchSpec, every_spec: bool = False) -> list[RunInfo]:
    """The spec's runs (or every run under the output prefix), oldest first."""
    now = identity.of(spec).fingerprint
    found = []
    for name in store.folders(spec.output.prefix):
        root = f"{spec.output.prefix}{name}/"
        plan = _json(store, root + "plan.json")
        if not every_spec and plan.get("spec", spec.name) != spec.name:
            continue
        report = _json(store, root + "report.json")
        locked = store.read(root + "lock.json") is not None
        record = plan.get("identity") or {}
        if locked:
            state = "in progress"
        elif report:
            state = "passed" if report.get("passed") else "failed"
        else:
            state = "planned" if plan else "no plan"
        found.append(
            RunInfo(
                run=name,
                spec=plan.get("spec"),
                identity=record.get("id"),
                service=_service_line(record),
                created=plan.get("created"),
                planned=report.get("planned", plan.get("files")),
                succeeded=report.get("succeeded"),
                failed=report.get("failed"),
                missing=report.get("missing"),
                state=state,
                current=record.get("id") == now,
            )
        )
    return sorted(found, key=lambda r: (r.created or 0.0, r.run))
