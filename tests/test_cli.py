"""The command line as a user meets it: exit codes, stdout vs stderr, help for every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import EXAMPLES, ROOT, write_spec
from tests.k8s import kubectl_list, node, pod

runner = CliRunner()
FISH = str(EXAMPLES / "fish-detector" / "batch.yaml")


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "command", ["generate", "lint", "plan", "run", "stage plan", "stage aggregate"]
)
def test_every_command_has_help(command: str) -> None:
    code, out, _ = invoke(*command.split(), "--help")
    assert code == 0
    assert "Usage" in out and len(out.splitlines()) > 5


def test_no_arguments_shows_help() -> None:
    code, out, _ = invoke()
    assert code in (0, 2) and "generate" in out


def test_generate_to_stdout_then_lint_the_file(tmp_path: Path) -> None:
    code, out, err = invoke("generate", FISH)
    assert code == 0 and err.startswith("note: ") and err.count("\n") == 1
    assert yaml.safe_load(out)["kind"] == "Workflow"
    target = tmp_path / "wf.yaml"
    target.write_text(out)
    code, out, err = invoke("lint", str(target))
    assert (code, out) == (0, "")
    assert "1 document(s) in 1 file(s): clean" in err


def test_generate_to_a_folder_with_rbac(tmp_path: Path) -> None:
    code, out, err = invoke("generate", FISH, "--out-dir", str(tmp_path), "--rbac")
    assert code == 0 and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obsea-fish-rbac.yaml", "obsea-fish.yaml"]
    assert "wrote" in err
    code, out, _ = invoke("lint", str(tmp_path / "obsea-fish.yaml"))
    assert code == 0, out
    rbac = yaml.safe_load_all((tmp_path / "obsea-fish-rbac.yaml").read_text())
    assert [d["kind"] for d in rbac][-1] == "RoleBinding"


def test_generate_matches_the_committed_workflow() -> None:
    _, out, _ = invoke("generate", FISH)
    assert out == (ROOT / "workflows" / "obsea-fish.yaml").read_text()


def test_set_overrides_a_field() -> None:
    _, out, _ = invoke("generate", FISH, "--set", "argo.namespace=batch")
    assert yaml.safe_load(out)["metadata"]["namespace"] == "batch"


def test_bad_spec_is_one_line_on_stderr_exit_1(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        "name: x\nservice: {name: s, image: i, script: script.sh, cpu: lots}\ninput: {bucket: data}\n",
    )
    code, out, err = invoke("generate", str(path))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "service.cpu: not a quantity" in err
    assert "Traceback" not in err


def test_missing_spec_file() -> None:
    code, _, err = invoke("generate", "does-not-exist.yaml")
    assert code == 1 and "cannot read" in err and err.count("\n") == 1


def test_lint_problems_exit_1_one_line_each(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "workflows" / "image-stats.yaml").read_text())
    doc["spec"]["entrypoint"] = "nope"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    doc["spec"]["bogus"] = 1
    worse = tmp_path / "worse.yaml"
    worse.write_text(yaml.safe_dump(doc))  # a schema error stops that document, as in Argo
    code, out, _ = invoke("lint", str(bad), str(worse))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{bad}: spec.entrypoint: template name 'nope' undefined")
    assert lines[1].startswith(f'{worse}: spec.bogus: unknown field "spec.bogus"')


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert invoke("lint")[0] == 2
    assert invoke("plan", FISH, "-o", "xml")[0] == 2
    assert invoke("generate", FISH, "--no-such-flag")[0] == 2
    assert invoke("run", FISH)[0] == 2  # only --local is supported


def test_plan_from_snapshot_and_listing_as_json(tmp_path: Path) -> None:
    snapshot = tmp_path / "cluster.json"
    snapshot.write_text(
        json.dumps(
            kubectl_list(
                node("big", cpu="8", memory="32Gi"),
                node("small", cpu="2", memory="4Gi"),
                node(
                    "tainted", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
                ),
                pod("busy", "big", {"cpu": "4", "memory": "4Gi"}),
            )
        )
    )
    listing = tmp_path / "objects.jsonl"
    listing.write_text(
        "".join(
            json.dumps({"key": f"cam/{i:03d}.jpg", "size": 1000 + i, "type": "file"}) + "\n"
            for i in range(95)
        )
    )
    code, out, err = invoke(
        "plan", FISH, "--cluster-from", str(snapshot), "--objects-from", str(listing), "-o", "json"
    )
    assert code == 0, err
    plan = json.loads(out)
    # a worker pod: the service's 1 cpu / 3Gi, the runner's 100m / 64Mi, two rclone mounts'
    # 100m / 256Mi each (1.3 cpu); headroom 0.9: big has 3.6 cpu free, small 1.8
    assert plan["nodes"] == {"big": 2, "small": 1, "tainted": 0}
    assert plan["workers"] == 3
    assert [s["files"] for s in plan["shards"]] == [32, 32, 31]
    assert sum(s["bytes"] for s in plan["shards"]) == sum(1000 + i for i in range(95))
    assert plan["excluded_nodes"] == {"tainted": "taint dedicated=db:NoSchedule not tolerated"}

    code, out, err = invoke(
        "plan", FISH, "--cluster-from", str(snapshot), "--objects-from", str(listing)
    )
    assert code == 0, err
    assert "limited by cluster capacity" in out and "big" in out


def test_plan_when_nothing_fits_says_why(tmp_path: Path) -> None:
    snapshot = tmp_path / "cluster.json"
    snapshot.write_text(json.dumps(kubectl_list(node("tiny", cpu="1", memory="2Gi"))))
    listing = tmp_path / "objects.jsonl"
    listing.write_text(json.dumps({"key": "input/a.jpg", "size": 1}) + "\n")
    code, out, err = invoke(
        "plan", FISH, "--cluster-from", str(snapshot), "--objects-from", str(listing)
    )
    assert code == 1 and out == ""
    assert "no worker fits on any node" in err and "tiny" in err and err.count("\n") == 1


def test_plan_with_a_bad_listing_line(tmp_path: Path) -> None:
    snapshot = tmp_path / "cluster.json"
    snapshot.write_text(json.dumps(kubectl_list(node("n"))))
    listing = tmp_path / "objects.jsonl"
    listing.write_text('{"key": "a.jpg", "size": 1}\nnot json\n')
    code, _, err = invoke(
        "plan", FISH, "--cluster-from", str(snapshot), "--objects-from", str(listing)
    )
    assert code == 1 and f"{listing}:2: expected a JSON object" in err


def test_a_bad_run_name_is_one_line(tmp_path: Path) -> None:
    snapshot = tmp_path / "cluster.json"
    snapshot.write_text(json.dumps(kubectl_list(node("n"))))
    listing = tmp_path / "objects.jsonl"
    listing.write_text(json.dumps({"key": "input/a.jpg", "size": 1}) + "\n")
    code, _, err = invoke(
        "plan",
        FISH,
        "--cluster-from",
        str(snapshot),
        "--objects-from",
        str(listing),
        "--run",
        "Bad_Run",
    )
    assert code == 1 and "run name 'Bad_Run' must be lowercase" in err and "Traceback" not in err


def test_an_unwritable_output_folder_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = invoke("generate", FISH, "--out-dir", str(blocker / "sub"))
    assert code == 1 and err.count("\n") == 1 and str(blocker) in err
