#!/bin/sh
# worker.invoke: batch: one process per batch of images (bench/model/batch.py).
exec "$BENCH_PYTHON" "$BENCH_MODEL_DIR/batch.py"
