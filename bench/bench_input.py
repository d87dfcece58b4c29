"""What `worker.input` costs per file: OSCAR's regular copy (`copy`) against a link (`link`).

Through a real rclone mount of the embedded S3 server, as a worker pod reads its input: a
shell loop does per file what the runner does before the script (`cp` of the mounted object
into the private input folder, or `ln -s` to it), then what a script does at least (read the
input once, `cat > /dev/null`), then removes it. Rounds alternate link and copy (A B A B ...)
over the same files; the figure is the median per-file time of each and their median ratio.

Usage: python bench/bench_input.py [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure
from generator.build import sidecar
from generator.local import rclone

# per size: how many files (about 100 MB of 5 MB files, 400 small ones)
SIZES = {2048: 400, 5 * 2**20: 20}
LOOP = r"""
stage=$1; shift
mkdir -p "$TMPDIR/in"
for f in "$@"; do
  x="$TMPDIR/in/${f##*/}"
  if [ "$stage" = copy ]; then cp "$f" "$x"; else ln -s "$f" "$x"; fi
  cat "$x" > /dev/null
  rm -f "$x"
done
"""


def _loop(stage: str, files: list[str], scratch: Path) -> float:
    """Milliseconds per file of one pass."""
    t0 = time.perf_counter()
    subprocess.run(
        ["sh", "-c", LOOP, "loop", stage, *files],
        env={**os.environ, "TMPDIR": str(scratch)},
        check=True,
    )
    return (time.perf_counter() - t0) * 1000 / len(files)


def _ms(values: list[float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


def main(argv: list[str]) -> int:
    rounds = int(argv[1]) if len(argv) > 1 else 3
    work = Path(tempfile.mkdtemp(prefix="bench-input-"))
    data = work / "data"
    for size, count in SIZES.items():
        folder = data / "imgs" / f"s{size}"
        folder.mkdir(parents=True)
        payload = os.urandom(size)
        for i in range(count):
            (folder / f"img-{i:04d}.jpg").write_bytes(payload)
    with rclone.serve_s3(data) as ep:
        env = {**sidecar.keyed_env(ep.endpoint, ep.access_key, ep.secret_key)}
        with rclone.mount(
            "imgs", work / "mnt" / "imgs", {**env, **rclone.EMBEDDED_SERVER_ENV}
        ) as point:
            for size in SIZES:
                files = sorted(str(p) for p in (point / f"s{size}").iterdir())
                times: dict[str, list[float]] = {"link": [], "copy": []}
                for _ in range(rounds):
                    for stage in ("link", "copy"):
                        times[stage].append(_loop(stage, files, work))
                link, copy = (statistics.median(times[s]) for s in ("link", "copy"))
                ratios = [c / lk for lk, c in zip(times["link"], times["copy"], strict=True)]
                label = f"{size // 1024} KiB" if size < 2**20 else f"{size // 2**20} MiB"
                print(
                    f"input of {label}, {len(files)} files, {rounds} rounds: link"
                    f" {link:.1f} ms/file, copy {copy:.1f} ms/file (median ratio"
                    f" {statistics.median(ratios):.2f}x; rounds link {_ms(times['link'])}, copy"
                    f" {_ms(times['copy'])})"
                )
                figure(
                    f"worker.input per file, {label}: link / copy",
                    f"{link:.1f} ms / {copy:.1f} ms ({statistics.median(ratios):.2f}x)",
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
