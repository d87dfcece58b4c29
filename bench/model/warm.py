"""The limit without a runner: one warm process loads YOLOv8n once and loops over the images
named in its arguments, reading them from local disk. Prints the seconds its loop took."""

from __future__ import annotations

import sys
import tempfile
import time

import yolo

if __name__ == "__main__":
    model = yolo.load()
    paths = sys.argv[1:]
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        for path in paths:
            yolo.save(yolo.detect(model, path), path, out)
        print(f"{time.perf_counter() - t0:.3f}")
