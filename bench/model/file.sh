#!/bin/sh
# worker.invoke: file (OSCAR's convention): one process per image, so each image pays the Python
# start, `import torch` and the model build before its detection. BENCH_PYTHON (the .venv-bench
# interpreter) and BENCH_MODEL_DIR come from the spec's service.env.
exec "$BENCH_PYTHON" "$BENCH_MODEL_DIR/yolo.py" "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR"
