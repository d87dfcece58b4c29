"""A hostile script through `run --local`, input and output in one bucket: it runs in the
worker pod's `service` container, which mounts no folder the runner writes, so it can lie
about its own file only. It cannot write a result, plan.json, units.tsv, a claim, the lock,
index.tsv or another file's outputs, nor make the runner write them for it (issue 20,
item 8). The mounts are the YAML's, so what holds here holds on a cluster."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import requires_fuse, write_spec

# evil1 tries to write the run's bookkeeping wherever this container shows it: through the
# runner's mount point when it is there, and through any folder holding a run's units.tsv (the
# read-only input mount shows the run folder when input and output share a bucket). evil2
# hands the runner a symbolic link into the runner's own mount as its output folder.
HOSTILE = r"""#!/bin/sh
name=${INPUT_FILE_PATH##*/}
cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy"
case $name in
  evil1.jpg)
    runs=$(find /mnt /oscar-batch /oscar /tmp -name units.tsv 2>/dev/null | sed 's,/units.tsv$,,')
    for r in /mnt/.oscar-batch/pics $runs; do
      [ -d "$r" ] || continue
      for f in plan.json units.tsv lock.json index.tsv claims/0000/0 \
          results/0000/forged.results outputs/a.jpg/copy outputs/b.jpg/forged; do
        if (mkdir -p "$(dirname "$r/$f")" && echo forged >"$r/$f") 2>/dev/null; then
          echo "wrote $r/$f"
        else
          echo "blocked $r/$f"
        fi
      done
      for f in results outputs/a.jpg; do
        if rm -rf "$r/$f" 2>/dev/null && [ ! -e "$r/$f" ]; then echo "removed $r/$f"; fi
      done
    done >"$TMP_OUTPUT_DIR/attempts.txt"
    ;;
  evil2.jpg)
    rm -rf "$TMP_OUTPUT_DIR"
    ln -s /mnt/.oscar-batch/pics "$TMP_OUTPUT_DIR"
    ;;
esac
exit 0
"""


@requires_fuse
def test_a_script_cannot_write_results_bookkeeping_or_other_outputs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    inputs = data / "pics" / "in"
    inputs.mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "evil1.jpg", "evil2.jpg"):
        (inputs / name).write_bytes(name.encode())
    path = write_spec(
        tmp_path / "spec",
        "name: sc\nservice: {name: c, image: alpine, script: script.sh, cpu: 100m, memory: 64Mi}\n"
        "input: {bucket: pics, prefix: in/}\nplanning: {max_workers: 1}\n"
        "worker: {batch_size: 1}\nfailure: {max_failed_ratio: 0.5}\n",
        HOSTILE,
    )
    out = CliRunner().invoke(
        app, ["run", str(path), "--local", "--data-dir", str(data), "--run", "r", "-o", "json"]
    )
    run = data / "pics" / "oscar-batch" / "r"
    attempts = run / "outputs" / "evil1.jpg" / "attempts.txt"
    assert out.exit_code == 0, (out.output, attempts.read_text() if attempts.exists() else "")
    report = json.loads(out.stdout)
    # the truth: three files succeeded, evil2's output is a link, which is not stored
    assert (report["succeeded"], report["failed"]) == (3, 1), report
    for name in ("a.jpg", "b.jpg"):
        assert sorted(p.name for p in (run / "outputs" / name).iterdir()) == ["copy"]
        assert (run / "outputs" / name / "copy").read_bytes() == name.encode()
    assert not (run / "outputs" / "evil2.jpg").exists()
    written = [p for p in run.rglob("*") if p.is_file() and p != attempts]
    assert [p for p in written if b"forged" in p.read_bytes()] == []
    # it found the run folder (through the read-only input mount) and was refused there
    lines = attempts.read_text().splitlines()
    assert any(line.startswith("blocked /mnt/pics/oscar-batch/r/") for line in lines), lines
    assert [line for line in lines if not line.startswith("blocked ")] == []
