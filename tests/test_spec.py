"""The batch spec: loading the examples, overrides, and one clear line for every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import SpecError
from generator.spec import model as spec
from tests.conftest import EXAMPLES, write_spec

MINIMAL = """
name: demo
service: {name: svc, image: alpine:3, script: script.sh}
input: {bucket: data, prefix: in}
"""


def test_fish_detector_example_resolves_from_the_fdl() -> None:
    s = spec.load(EXAMPLES / "fish-detector" / "batch.yaml")
    assert s.service.name == "fish-detector"
    assert s.service.image == "dialdroid/fish-detector:lite"
    assert (s.service.cpu, s.service.memory, s.service.gpu) == ("1.0", "3Gi", 0)
    assert s.service.env == {"BUCKET_DIR": "/mnt/fish-detector"}
    assert s.service.log_level == "DEBUG"
    assert "detect.py" in s.service.script
    assert s.planning.headroom == 0.9


def test_defaults_and_normalised_prefix(tmp_path: Path) -> None:
    s = spec.load(write_spec(tmp_path, MINIMAL))
    assert s.input.prefix == "in/"
    assert s.output_bucket == "data"
    assert s.buckets == ("data",)
    assert s.planning.max_workers == 100
    assert s.argo.kind == "Workflow"
    assert s.service.secret_name == "svc-secrets"


def test_overrides_fill_the_same_model(tmp_path: Path) -> None:
    s = spec.load(write_spec(tmp_path, MINIMAL), ["planning.max_workers=7", "output.bucket=other"])
    assert s.planning.max_workers == 7
    assert s.buckets == ("data", "other")


def test_spec_is_frozen(tmp_path: Path) -> None:
    s = spec.load(write_spec(tmp_path, MINIMAL))
    with pytest.raises(ValueError):
        s.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL.replace("input: {bucket: data, prefix: in}", ""), "input: required, not given"),
        (MINIMAL + "colour: blue\n", "(top level): unknown key 'colour'"),
        (
            MINIMAL.replace("image: alpine:3", "image: alpine:3, cpu: 2 cores"),
            "service.cpu: not a quantity",
        ),
        (
            MINIMAL.replace("image: alpine:3", "image: alpine:3, memory: 0"),
            "service.memory: must be greater",
        ),
        (
            MINIMAL.replace("name: demo", "name: Demo_Run"),
            "name: 'Demo_Run' is not a valid name: lowercase letters",
        ),
        (
            MINIMAL.replace("prefix: in", "prefix: a/../b"),
            "input.prefix: 'a/../b' is not a folder path",
        ),
        (MINIMAL + "argo: {kind: CronWorkflow}\n", "schedule is required"),
        (MINIMAL + "failure: {max_failed_ratio: 2}\n", "failure.max_failed_ratio"),
        (MINIMAL.replace("script: script.sh", "script: missing.sh"), "cannot read"),
        (
            MINIMAL.replace("image: alpine:3", "image: alpine:3, colour: red"),
            "service: unknown key 'colour'",
        ),
        (
            MINIMAL.replace("image: alpine:3", "image: alpine:3, env: {INPUT_FILE_PATH: x}"),
            "set by the runner",
        ),
        ("name: [unclosed", "invalid YAML"),
        ("- a list", "a batch spec is a mapping"),
    ],
)
def test_bad_specs_fail_with_one_line_naming_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(SpecError) as err:
        spec.load(write_spec(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_spec(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        spec.load(tmp_path / "nope.yaml")


def test_bad_override(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"expected key\.path=value"):
        spec.load(write_spec(tmp_path, MINIMAL), ["planning.max_workers"])


def test_include_exclude_globs_match_the_key_under_the_prefix(tmp_path: Path) -> None:
    s = spec.load(
        write_spec(tmp_path, MINIMAL), ["input.include=['*.jpg']", "input.exclude=['tmp/*']"]
    )
    assert s.input.wanted("in/a.jpg")
    assert s.input.wanted("in/deep/b.jpg")
    assert not s.input.wanted("in/a.png")
    assert not s.input.wanted("in/tmp/c.jpg")
