"""The one-line change that makes an original OSCAR-Batch range script run in `range` mode.

The original coordinator (grycap/oscar-batch examples/obsea-fish-detector,
fish-detector-coordinator.py) writes `index.txt` into the mounted bucket's input folder and
sends global `{start, end}` line ranges; its script reads that index and writes into the
mounted bucket (script.sh: `-i "$BUCKET_DIR/input/index.txt" -d "$BUCKET_DIR" ...
-o "$BUCKET_DIR/output"`). Here each invocation gets its own index (`$OSCAR_BATCH_INDEX`,
absolute paths, lines 1 to N with `{"start": 1, "end": N + 1}`) and its outputs go to
`$TMP_OUTPUT_DIR`. Run unchanged, such a script would read the user's whole index with our
local ranges (lines 1-3 three times, 4-5 never) and write nothing we store: refuse it first.
"""

from __future__ import annotations

import shlex

INDEX_VARIABLE = "OSCAR_BATCH_INDEX"


def problem(script: str) -> str | None:
    """Why a `range` script cannot run as it is, with the change to make, or None.

    A script that names `$OSCAR_BATCH_INDEX` follows the contract. Otherwise the message
    names the line reading another index and gives it rewritten: the index word becomes
    "$OSCAR_BATCH_INDEX", a word that is the index's folder root becomes `/` (the index holds
    absolute paths), and a word under that root (the output folder) becomes
    "$TMP_OUTPUT_DIR".
    """
    if INDEX_VARIABLE in script:
        return None
    contract = (
        f"worker.invoke range gives each invocation its own index in ${INDEX_VARIABLE}"
        " (absolute paths) and stores what it leaves in $TMP_OUTPUT_DIR"
    )
    for number, line in enumerate(script.splitlines(), 1):
        if "index.txt" not in line:
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            break
        index = next((w for w in words if "index.txt" in w), None)
        if index is None:
            continue
        root = next((w for w in words if w != index and index.startswith(w.rstrip("/") + "/")), "")
        rewritten = [_rewrite(w, index, root) for w in words]
        # shlex quotes with ' where the shell line wrote ": variables must stay expanded
        changed = shlex.join(rewritten).replace("'", '"')
        return f"{contract}; change line {number} to: {changed}"
    return f"{contract}; the script never reads ${INDEX_VARIABLE}"


def _rewrite(word: str, index: str, root: str) -> str:
    if word == index:
        return f"${INDEX_VARIABLE}"
    if root and word == root:
        return "/"
    if root and word.startswith(root.rstrip("/") + "/"):
        return "$TMP_OUTPUT_DIR"
    return word
