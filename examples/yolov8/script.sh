#!/bin/sh
# yolov8 (AI4OS): detect objects in one image; the DEEPaaS CLI writes the JSON predictions.
# POSIX sh: OSCAR runs `/bin/sh script.sh` whatever the first line says (dash has no pipefail).
set -eu
deepaas-cli predict --files "$INPUT_FILE_PATH" --accept application/json \
  > "$TMP_OUTPUT_DIR/$(basename "${INPUT_FILE_PATH%.*}").json"
