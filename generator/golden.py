"""The committed example workflows: which spec makes which file in workflows/.

`make workflows` runs `python -m generator.golden workflows`; tests compare against the same
list, so there is one definition of what workflows/ must hold.
"""

from __future__ import annotations

import sys
from pathlib import Path

from generator import spec, workflow

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = {
    "obsea-fish.yaml": ROOT / "examples" / "fish-detector" / "batch.yaml",
    "image-stats.yaml": ROOT / "examples" / "image-stats" / "batch.yaml",
    "yolov8-nightly.yaml": ROOT / "examples" / "yolov8" / "batch.yaml",
}


def render_all() -> dict[str, str]:
    """File name -> YAML text of every golden workflow."""
    return {name: workflow.to_yaml(spec.load(path)) for name, path in GOLDEN.items()}


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else ROOT / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (folder / name).write_text(text, encoding="utf-8")
        print(f"wrote {folder / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
