"""What the oscar-batch runtime image's Dockerfile gives its containers beyond this Python and
the package: `ENV MPLCONFIGDIR` naming a folder that holds matplotlib's font cache, built once
when the image is built (the aggregate draws the run's page; its user has no home to keep a
cache in).

The stand-in builds that folder once per machine and matplotlib version, in this user's cache
folder, and makes it a folder of the runtime image's root at its own path, as `--image-dir`
does. Without it every aggregate pod listed and read this machine's fonts again (`fc-list`,
0.4-1 s), which no pod of the real image does.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def font_cache() -> Path | None:
    """The folder for the runtime image's MPLCONFIGDIR, built on first use; None when
    matplotlib is not installed or the cache cannot be built (the pods then build their own)."""
    try:
        version = importlib.metadata.version("matplotlib")
    except importlib.metadata.PackageNotFoundError:
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "oscar-batch"
    folder = base / f"matplotlib-{version}"
    if folder.is_dir():
        return folder
    try:
        base.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=base, prefix=".building-"))
    except OSError:
        return None
    try:
        subprocess.run(
            [sys.executable, "-I", "-c", "import matplotlib.font_manager"],
            env={**os.environ, "MPLCONFIGDIR": str(building)},
            check=True,
            capture_output=True,
        )
        # the image's user owns it there (`chown -R 10001`; matplotlib wants it writable): any
        # user may write here, in a pod's copy-on-write layer of it; on this machine the
        # folders above it are this user's only
        for path in [building, *building.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o644)
        building.rename(folder)  # a concurrent run may have won: then its folder is used
    except (OSError, subprocess.CalledProcessError):
        pass
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(building)
    return folder if folder.is_dir() else None
