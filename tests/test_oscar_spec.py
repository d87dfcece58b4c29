"""Reading OSCAR's files as OSCAR does (issue 22): FDL values, outputs, the original range script."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.bucket import identity
from generator.cli import app
from generator.errors import SpecError
from generator.spec import goyaml
from generator.spec import model as spec
from tests.test_fdl_conformance import DATA

OBSEA = DATA / "oscar-batch" / "examples" / "obsea-fish-detector"


def _fdl(tmp_path: Path, service: str, output: str = "") -> Path:
    (tmp_path / "s.sh").write_text('cat "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/o"\n')
    (tmp_path / "f.yaml").write_text(
        "functions:\n  oscar:\n  - c:\n      name: svc\n      image: alpine\n"
        f"      script: s.sh\n      input: [{{path: bkt/in}}]\n{service}"
    )
    path = tmp_path / "batch.yaml"
    path.write_text(f"name: t\nservice: {{fdl: f.yaml}}\n{output}")
    return path


def test_fdl_variables_read_as_oscar_cli_reads_them(tmp_path: Path) -> None:
    variables = (
        "      environment:\n        variables:\n"
        "          Y: yes\n          T: True\n          F: 1.0\n          Q: '1.0'\n"
        "          H: 0x1F\n          O: off\n          E:\n          S: 1_000\n          B: 1e3\n"
    )
    env = spec.load(_fdl(tmp_path, variables)).service.env
    assert env == {
        "Y": "yes", "T": "true", "F": "1", "Q": "1.0", "H": "31", "O": "off", "E": "",
        "S": "1000", "B": "1e3",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "go"),
    [
        ("1000000.0", "1e+06"), ("123456.0", "123456"), ("0.00001", "1e-05"), ("5.", "5"),
        (".5", "0.5"), ("-0x10", "-16"), ("010", "8"), ("09", "0"), ("0b101", "5"),
        ("+1", "1"), ("1.2.3", "1.2.3"), (".inf", "+Inf"), ("-.Inf", "-Inf"), (".nan", "NaN"),
        ("~", ""), ("NULL", ""), ("FALSE", "false"), ("y", "y"), ("99999999999999999999", "18446744073709551615"),
    ],
)  # fmt: skip
def test_plain_scalars_as_goccy_types_and_prints_them(text: str, go: str) -> None:
    assert goyaml.plain_text(text) == go


def test_boolean_fields_as_go_decodes_them(tmp_path: Path) -> None:
    assert spec.load(_fdl(tmp_path, "      enable_gpu: True\n")).service.gpu == 1
    assert (
        spec.load(_fdl(tmp_path, "      enable_gpu: false\n      enable_sgx: FALSE\n")).service.gpu
        == 0
    )
    with pytest.raises(SpecError, match=r"enable_gpu: expected true or false, got 'yes'"):
        spec.load(_fdl(tmp_path, "      enable_gpu: yes\n"))


def test_every_output_with_its_filters_in_layout_oscar(tmp_path: Path) -> None:
    outputs = (
        "      output:\n      - {path: bkt/out}\n"
        "      - {storage_provider: minio.default, path: other/texts, prefix: [a, ''], suffix: [.txt]}\n"
    )
    loaded = spec.load(_fdl(tmp_path, outputs, "output: {layout: oscar}\n"))
    assert loaded.output.bucket == "bkt" and loaded.output.prefix == "oscar-batch/"
    assert [t.model_dump() for t in loaded.output.targets] == [
        {"bucket": "bkt", "prefix": "out/", "name_prefixes": (), "name_suffixes": ()},
        {"bucket": "other", "prefix": "texts/", "name_prefixes": (), "name_suffixes": (".txt",)},
    ]
    assert loaded.output.merge == ()
    with pytest.raises(SpecError, match=r"or set output.layout: oscar"):
        spec.load(_fdl(tmp_path, outputs))


def test_layout_oscar_needs_an_output_path(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"output: targets: layout oscar stores outputs"):
        spec.load(_fdl(tmp_path, "", "output: {layout: oscar}\n"))
    with pytest.raises(SpecError, match=r"output: merge: layout oscar"):
        spec.load(
            _fdl(
                tmp_path,
                "      output: [{path: bkt/out}]\n",
                "output: {layout: oscar, merge: [json]}\n",
            )
        )


def test_original_range_script_is_refused_with_the_one_line_change(tmp_path: Path) -> None:
    for name in ("fish-detector.yaml", "script.sh"):
        shutil.copy(OBSEA / name, tmp_path / name)
    (tmp_path / "b.yaml").write_text(
        "name: obsea\nservice: {fdl: fish-detector.yaml}\nworker: {invoke: range}\n"
    )
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "b.yaml")])
    assert result.exit_code == 1 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.endswith(
        'change line 9 to: python3 fish_detector.py -i "$OSCAR_BATCH_INDEX" -d /'
        ' --start "$START" --end "$END" -o "$TMP_OUTPUT_DIR"'
    )
    script = (tmp_path / "script.sh").read_text().splitlines()
    script[8] = line.split("change line 9 to: ")[1]
    (tmp_path / "script.sh").write_text("\n".join(script) + "\n")
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "b.yaml")])
    assert result.exit_code == 0, result.stderr


def test_switching_to_oscars_layout_starts_another_run(tmp_path: Path) -> None:
    """A run in layout run stored its outputs in its folder: resuming it in layout oscar
    would skip files whose outputs are not where OSCAR's layout puts them."""
    fdl = _fdl(tmp_path, "      output: [{path: bkt/out}]\n")
    run_layout = spec.load(fdl)
    oscar_layout = spec.load(fdl, ["output.layout=oscar"])
    assert "outputs" not in identity.scope(run_layout)  # runs of layout run keep their names
    assert identity.default_run(run_layout) != identity.default_run(oscar_layout)
    assert identity.scope_line(identity.scope(oscar_layout)) == "s3://bkt/in/ -> s3://bkt/out/"
