"""The committed example workflows: which spec makes which file in workflows/.

`make workflows` runs this module with the folder; tests compare against the same list, so
there is one definition of what workflows/ must hold.
"""

from __future__ import annotations

import sys
from pathlib import Path

import generator
from generator.build import workflow
from generator.spec import model

# the checkout: `make workflows` runs from it (a wheel ships neither examples/ nor workflows/)
ROOT = Path(generator.__file__).resolve().parent.parent
GOLDEN = {
    "obsea-fish.yaml": ROOT / "examples" / "fish-detector" / "batch.yaml",
    "image-stats.yaml": ROOT / "examples" / "image-stats" / "batch.yaml",
    "yolov8-nightly.yaml": ROOT / "examples" / "yolov8" / "batch.yaml",
}


def render_all() -> dict[str, str]:
    """File name -> YAML text of every golden workflow."""
    return {name: workflow.to_yaml(model.load(path)) for name, path in GOLDEN.items()}


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else ROOT / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (folder / name).write_text(text, encoding="utf-8")
        print(f"wrote {folder / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
