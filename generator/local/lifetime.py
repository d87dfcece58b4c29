"""Children that die with `run --local`, and a sweeper that removes its temp folder even when
it is killed with SIGKILL (`python -m generator.local.lifetime FOLDER`, fed by a pipe)."""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send `sig` to this process when its parent dies (PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


@contextlib.contextmanager
def swept(folder: Path, linger: float) -> Iterator[Path]:
    """`folder`, removed when the block ends or, if this process dies, `linger` seconds later
    (time for the pods to stop) by a sweeper process."""
    sweeper = subprocess.Popen(
        [sys.executable, "-I", "-m", __name__, str(folder), str(linger)],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        assert sweeper.stdin is not None
        sweeper.stdin.close()
        sweeper.wait()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    folder, linger = Path(argv[0]), float(argv[1])
    sys.stdin.buffer.read()  # EOF: the parent closed the pipe or died
    if folder.exists():
        time.sleep(linger)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
