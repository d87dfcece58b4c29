"""Merging CSV outputs into results.csv, by column count: wall seconds of one output of N
columns and 100 rows (the merge's parse and its second pass), in a child process each.

Usage: python bench/bench_merge.py [N ...]   (default: 1000 16000 100000)
Target: linear in the columns (seconds per 1,000 columns flat in N; it was quadratic:
16,000 columns took 11 s, issue 20 item 10).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure, measure

SETUP = """
import tempfile
from pathlib import Path
from generator.bucket import merge
header = ",".join(f"c{i}" for i in range(N))
data = (header + "\\n" + ("\\n".join([",".join(["1"] * N)] * 100)) + "\\n").encode()
folder = Path(tempfile.mkdtemp())
"""
CODE = """
merger = merge.Merger(folder, ("csv",))
merger.add("in/a.jpg", "wide.csv", data)
merger.close()
merger.write_csv(folder / "results.csv")
out = {"records": merger.stats["records"]}
"""


def main(argv: list[str]) -> None:
    for n in [int(a) for a in argv] or [1000, 16000, 100000]:
        got = measure(CODE, f"N = {n}\n{SETUP}")
        per = got["seconds"] / n * 1000
        print(
            f"{n:>7} columns x {got['records']} rows: {got['seconds']:.3f} s ({per:.4f} s per 1,000)"
        )
        figure(f"merge, one CSV output of {n} columns", f"{got['seconds']:.2f} s", "linear")


if __name__ == "__main__":
    main(sys.argv[1:])
