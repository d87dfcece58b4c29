#!/bin/bash
# yolov8 (AI4OS): detect objects in one image; the DEEPaaS CLI writes the JSON predictions.
set -euo pipefail
deepaas-cli predict --files "$INPUT_FILE_PATH" --accept application/json \
  > "$TMP_OUTPUT_DIR/$(basename "${INPUT_FILE_PATH%.*}").json"
