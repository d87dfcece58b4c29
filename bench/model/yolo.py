"""YOLOv8n object detection, shared by the three modes of the model benchmark (the file-mode
script, the batch-mode script and the warm loop), so every mode does the same work per image.

The network is ultralytics' own YOLOv8n, built from the model YAML that ships inside the
package, with random weights: nothing is downloaded, and the compute is that of trained
weights (weights change the numbers, not the operations). We call the network and ultralytics'
NMS directly rather than `YOLO(...).predict`: the predictor imports torchvision for its NMS,
and PyPI's torchvision does not load beside the CPU build of torch that this machine carries.

File mode: `python yolo.py INPUT OUTPUT_DIR` (one process per image: import, build, detect).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils.nms import non_max_suppression

SIZE = 640


def count_invocation() -> None:
    """One line per script process in the file $BENCH_INVOCATIONS names, when set."""
    if "BENCH_INVOCATIONS" in os.environ:
        with open(os.environ["BENCH_INVOCATIONS"], "a") as count:
            count.write(f"{os.getpid()}\n")


def load() -> DetectionModel:
    torch.manual_seed(0)
    return DetectionModel("yolov8n.yaml", verbose=False).eval()


def detect(model: DetectionModel, path: str) -> list[dict[str, Any]]:
    """Boxes found in one image: [x1, y1, x2, y2], confidence and class id."""
    with Image.open(path) as im:
        pixels = np.array(im.convert("RGB").resize((SIZE, SIZE)))
    x = torch.from_numpy(pixels).permute(2, 0, 1).float().div(255).unsqueeze(0)
    with torch.inference_mode():
        (found,) = non_max_suppression(model(x), conf_thres=0.25, iou_thres=0.7)
    return [
        {
            "box": [round(v, 1) for v in row[:4].tolist()],
            "conf": round(float(row[4]), 3),
            "cls": int(row[5]),
        }
        for row in found
    ]


def save(boxes: list[dict[str, Any]], path: str, out_dir: str) -> None:
    (Path(out_dir) / f"{Path(path).stem}.json").write_text(
        json.dumps({"file": Path(path).name, "boxes": boxes})
    )


if __name__ == "__main__":
    count_invocation()
    source, out = sys.argv[1], sys.argv[2]
    save(detect(load(), source), source, out)
