"""The identity of a run's service (pure) and the run name derived from it."""

from __future__ import annotations

from pathlib import Path

from generator.bucket import identity
from generator.spec import model as spec
from tests.conftest import write_spec

BASE = (
    "name: det\nservice: {name: s, image: ghcr.io/x/det:v1, script: script.sh, cpu: '1',"
    " env: {MODEL: v1}, secrets: [TOKEN]}\ninput: {bucket: data}\n"
)


def _load(
    tmp_path: Path, overrides: list[str] | None = None, script: str = "echo v1\n"
) -> spec.BatchSpec:
    return spec.load(write_spec(tmp_path, BASE, script), overrides)


def test_what_counts_and_what_does_not(tmp_path: Path) -> None:
    v1 = _load(tmp_path)
    name = identity.default_run(v1)
    assert name.startswith("det-") and len(name) == len("det-") + identity.FINGERPRINT_CHARS
    # resources, worker settings, the log level: same service, same run
    for same in (
        ["service.cpu=4", "service.memory=8Gi", "service.gpu=1"],
        ["worker.file_timeout=9"],
        ["service.log_level=DEBUG"],
    ):
        assert identity.default_run(_load(tmp_path, same)) == name
    # image, env values, env names, secret names, the script's bytes: another run
    changed = [
        _load(tmp_path, ["service.image=ghcr.io/x/det:v2"]),
        _load(tmp_path, ["service.env.MODEL=v2"]),
        _load(tmp_path, ["service.env.EXTRA=1"]),
        _load(tmp_path, ["service.secrets=[OTHER]"]),
        _load(tmp_path, script="echo v2\n"),
    ]
    names = {identity.default_run(s) for s in changed}
    assert name not in names and len(names) == len(changed)
    secret_free = identity.of(v1).record()
    assert secret_free["secret_env"] == ["TOKEN"] and "TOKEN" not in secret_free["env"]


def test_digest_pinned_in_the_image_reference(tmp_path: Path) -> None:
    pinned = _load(tmp_path, ["service.image=ghcr.io/x/det@sha256:" + "ab" * 32])
    assert identity.of(pinned).digest == "sha256:" + "ab" * 32
    assert identity.of(_load(tmp_path)).digest is None


def test_changes_name_what_changed(tmp_path: Path) -> None:
    v1 = identity.of(_load(tmp_path)).record()
    v2 = identity.of(
        _load(
            tmp_path,
            ["service.image=ghcr.io/x/det:v2", "service.env.MODEL=v2", "service.env.NEW=1"],
            "echo v2\n",
        )
    )
    said = identity.changes(v1, v2)
    assert said[0] == "image ghcr.io/x/det:v1 -> ghcr.io/x/det:v2"
    assert said[1].startswith("script ") and " -> " in said[1]
    assert said[2:] == ["env MODEL v1 -> v2", "env NEW=1 added"]
    assert identity.changes(v1, identity.of(_load(tmp_path))) == []
