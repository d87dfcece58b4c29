"""The runs in an output bucket: name, which service version made them, when, and how they ended.

Read from each run folder's plan.json (identity, date), report.json (counts, verdict) and
lock.json (in progress); one small read each, whatever the runs' sizes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from generator.bucket import identity, rundocs
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
    state: str  # passed | failed | in progress | planned | no plan | unreadable
    current: bool  # made by the spec's service version as it is now
    reason: str = ""  # why the folder is unreadable

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _service_line(record: rundocs.IdentityRecord | None) -> str:
    if record is None:
        return "(not recorded)"
    env = " ".join(f"{k}={v}" for k, v in sorted(record.env.items()))
    script = (record.script_sha256 or "?")[:8]
    return f"{record.image} script {script}" + (f" {env}" if env else "")


def read_run(
    name: str, plan_data: bytes | None, report_data: bytes | None, locked: bool, now: str
) -> RunInfo:
    """One run folder's line from its documents (pure); unreadable ones say why.

    Args:
        now: the fingerprint of the spec's service as it is now.
    """
    try:
        plan = rundocs.parse(rundocs.Plan, plan_data, "plan.json") if plan_data else None
        report = rundocs.parse(rundocs.Counts, report_data, "report.json") if report_data else None
    except rundocs.Unreadable as exc:
        return RunInfo(name, None, None, "", None, None, None, None, None, "unreadable", False,
                       str(exc))  # fmt: skip
    if locked:
        state = "in progress"
    elif report:
        state = "passed" if report.passed else "failed"
    else:
        state = "planned" if plan else "no plan"
    record = plan.identity if plan else None
    return RunInfo(
        run=name,
        spec=plan.spec if plan else None,
        identity=record.id if record else None,
        service=_service_line(record),
        created=plan.created if plan else None,
        planned=report.planned if report else plan.files if plan else None,
        succeeded=report.succeeded if report else None,
        failed=report.failed if report else None,
        missing=report.missing if report else None,
        state=state,
        current=record is not None and record.id == now,
    )


def list_runs(store: Store, spec: BatchSpec, every_spec: bool = False) -> list[RunInfo]:
    """The spec's runs (or every run under the output prefix), oldest first; an unreadable
    folder is listed as such (whichever spec it belongs to: it cannot say)."""
    now = identity.of(spec).fingerprint
    found = []
    for name in store.folders(spec.output.prefix):
        root = f"{spec.output.prefix}{name}/"
        info = read_run(
            name,
            store.read(root + "plan.json"),
            store.read(root + "report.json"),
            store.read(root + "lock.json") is not None,
            now,
        )
        if not every_spec and info.spec not in (None, spec.name):
            continue
        found.append(info)
    return sorted(found, key=lambda r: (r.created or 0.0, r.run))


def predecessor(store: Store, spec: BatchSpec, run: str, made_by: str | None) -> RunInfo | None:
    """The latest finished run of the spec before `run` made by another service version than
    `made_by` (`run`'s identity), as `runs` lists them; None when there is none."""
    found = list_runs(store, spec)
    before = next((r.created for r in found if r.run == run), None)
    done = [
        r
        for r in found
        if r.run != run
        and r.state in ("passed", "failed")
        and r.identity is not None
        and r.identity != made_by
        and (before is None or (r.created or 0.0) <= before)
    ]
    return done[-1] if done else None
