"""Make a folder of small PNG images for the demo: gradients with dark ellipses ("fish").

Usage: python make_images.py DATA_DIR COUNT
Writes DATA_DIR/images/raw/<camera>/img-NNNN.png (the embedded S3 server's bucket "images"),
plus two broken files so the report shows how failures are accounted for. Same output every
time (seeded).
"""

import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw


def main(argv: list[str]) -> int:
    root, count = Path(argv[1]) / "images" / "raw", int(argv[2])
    rng = random.Random(42)
    for n in range(count):
        folder = root / f"camera-{n % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"img-{n:04d}.png"
        if target.exists():
            continue
        img = Image.new("RGB", (64, 48))
        draw = ImageDraw.Draw(img)
        for y in range(48):
            shade = 120 + y * 2
            draw.line([(0, y), (63, y)], fill=(20, shade // 2 + 40, shade))
        for _ in range(rng.randint(0, 5)):
            x, y = rng.randint(0, 56), rng.randint(0, 40)
            draw.ellipse([x, y, x + rng.randint(4, 9), y + rng.randint(3, 6)], fill=(10, 15, 20))
        img.save(target)
    (root / "camera-0" / "img-broken-1.png").write_bytes(b"this is not a PNG")
    (root / "camera-1" / "img-broken-2.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    print(f"{count + 2} images under {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
