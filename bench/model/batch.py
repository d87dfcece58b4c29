"""worker.invoke: batch: load YOLOv8n once, then detect objects in every image of the batch.

$INPUT_FILE_LIST names a file of lines `<input path>` TAB `<that input's output dir>`. After
each image the script appends `<input path>` TAB `ok` (or `fail` TAB a reason word) to the file
that $OSCAR_BATCH_STATUS_FILE names, so a crash later in the batch keeps what it finished.

BENCH_ON_ERROR=exit makes an unreadable image end the invocation (exit 1), like a script that
does not catch errors: the runner then isolates the bad image by re-running smaller batches.
The default, `status`, reports it as failed and goes on.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yolo


def main() -> int:
    yolo.count_invocation()
    model = yolo.load()
    stop_on_error = os.environ.get("BENCH_ON_ERROR") == "exit"
    status_file = os.environ.get("OSCAR_BATCH_STATUS_FILE", os.devnull)
    lines = Path(os.environ["INPUT_FILE_LIST"]).read_text().splitlines()
    with open(status_file, "a") as status:
        for line in lines:
            path, out = line.split("\t")
            try:
                yolo.save(yolo.detect(model, path), path, out)
            except OSError as e:  # PIL's word for an unreadable or truncated image
                if stop_on_error:
                    print(f"{path}: {e}", file=sys.stderr)
                    return 1
                status.write(f"{path}\tfail\tunreadable\n")
            else:
                status.write(f"{path}\tok\n")
            status.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
