#!/bin/sh
# fish-detector: detect fish in one image with the service's model; writes <name>.json and the
# annotated image to TMP_OUTPUT_DIR. Runs unchanged under OSCAR and under oscar-batch.
set -e
name=$(basename "$INPUT_FILE_PATH")
python3 /opt/fish-detector/detect.py --input "$INPUT_FILE_PATH" \
  --json "$TMP_OUTPUT_DIR/${name%.*}.json" --annotated "$TMP_OUTPUT_DIR/$name"
