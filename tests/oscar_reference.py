"""OSCAR's supervisor, the reference the conformance tests compare `run --local` with.

What grycap/faas-supervisor (97b91f2) does for one MinIO event, on this machine: fresh
TMP_INPUT_DIR and TMP_OUTPUT_DIR (supervisor.py `_create_tmp_dirs`), the object downloaded
into TMP_INPUT_DIR under its base name (storage/providers/s3.py `download_file`), the script
run as `/bin/sh script` in the current folder whatever its exit code
(faas/binary/supervisor.py `execute_function`), then every file of an `os.walk` of
TMP_OUTPUT_DIR (utils.py `get_all_files_in_dir`) uploaded to each output whose prefix and
suffix lists match its relative name, at `<output folder>/<relative name>`
(storage/config.py `upload_output`, storage/providers `get_file_key`). Objects are read and
written as files of a bucket folder: the layout `rclone serve s3` serves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Output:
    """One OSCAR output: `path` is bucket/folder; prefix/suffix filter relative names."""

    path: str
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()

    def wants(self, name: str) -> bool:
        return (not self.prefix or any(name.startswith(p) for p in self.prefix)) and (
            not self.suffix or any(name.endswith(s) for s in self.suffix)
        )


def run(
    script: Path,
    data: Path,
    bucket: str,
    keys: list[str],
    outputs: list[Output],
    env: dict[str, str],
    workdir: Path,
) -> None:
    """Process `keys` of `bucket` (folders of `data`) one by one, as OSCAR would, and store
    the outputs in `data`. Keys are taken in order; a later file overwrites an earlier one's
    output of the same name, as on OSCAR when events arrive in that order."""
    for key in keys:
        with tempfile.TemporaryDirectory() as tin, tempfile.TemporaryDirectory() as tout:
            local = Path(tin) / key.rsplit("/", 1)[-1]
            shutil.copyfile(data / bucket / key, local)
            proc_env = {
                "PATH": os.environ["PATH"],
                "HOME": os.environ.get("HOME", "/root"),
                **env,
                "TMP_INPUT_DIR": tin,
                "TMP_OUTPUT_DIR": tout,
                "INPUT_FILE_PATH": str(local),
                "STORAGE_OBJECT_KEY": key,
            }
            subprocess.run(
                ["/bin/sh", str(script)],
                cwd=workdir,
                env=proc_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            files = [Path(d, f) for d, _, names in os.walk(tout) for f in names]
            for output in outputs:
                target_bucket, _, folder = output.path.strip("/").partition("/")
                for file in files:
                    name = str(file).replace(f"{tout}/", "").strip().lstrip("/")
                    if output.wants(name):
                        dest = data / target_bucket / (f"{folder}/{name}" if folder else name)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(file, dest)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by its relative path: names, places and bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
