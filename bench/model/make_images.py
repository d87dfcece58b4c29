"""COUNT 640 px JPEG photos of random shapes and words, and one poison file (a truncated JPEG).

Usage: python make_images.py FOLDER COUNT POISON_PATH
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WORDS = [
    "invoice",
    "bucket",
    "shard",
    "worker",
    "model",
    "batch",
    "OSCAR",
    "image",
    "result",
    "total",
    "2026",
    "fish",
]


def photo(rng: random.Random) -> Image.Image:
    im = Image.new("RGB", (640, 640), tuple(rng.randint(120, 255) for _ in range(3)))
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=28)
    for _ in range(rng.randint(6, 14)):
        x, y = rng.randint(0, 560), rng.randint(0, 560)
        box = [x, y, x + rng.randint(20, 200), y + rng.randint(20, 200)]
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(
            box, fill=colour, outline=(0, 0, 0), width=3
        )
        draw.text(
            (rng.randint(0, 440), rng.randint(0, 600)),
            " ".join(rng.sample(WORDS, 3)),
            fill=(0, 0, 0),
            font=font,
        )
    return im


if __name__ == "__main__":
    folder, count, poison = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(13)
    for i in range(count):
        photo(rng).save(folder / f"img-{i:04d}.jpg", quality=90)
    poison.parent.mkdir(parents=True, exist_ok=True)
    poison.write_bytes((folder / "img-0000.jpg").read_bytes()[:2000])
