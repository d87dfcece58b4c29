"""Published OSCAR services, run unchanged through `run --local`, store what OSCAR stores.

Every service that generates in tests/test_fdl_conformance.py's table either runs here or
is listed in NEEDS with what this machine lacks for its script (the closing note's counts).
A runnable one runs its published script (copied byte for byte, tests/data/oscar/SOURCES)
through `run --local` in `output.layout: oscar`, and its outputs (names, places, bytes) are
compared with a reference made the supervisor's way over the same inputs
(tests/oscar_reference.py). Then the published mask-detector pair runs as a chain: the first
service's output folder is the second's input, as on OSCAR.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from generator.cli import app
from tests import oscar_reference
from tests.conftest import requires_fuse
from tests.test_fdl_conformance import DATA, EXPECTED

pytestmark = [requires_fuse]

QUICK = b"The quick brown fox jumped over the lazy dog\n"  # the crates' own input.txt
# (FDL, cluster, service) -> (inputs by key under the input folder, env given in the spec)
RUNS: dict[tuple[str, str, str], tuple[dict[str, bytes], dict[str, str]]] = {
    ("oscar/examples/simple-test/simple-test.yaml", "oscar-cluster", "simple-test"): (
        {"input.txt": QUICK, "more/notes.v2.txt": b"two words\n"},
        {},
    ),
    ("oscar-hub/crates/simple-test/fdl.yml", "oscar-cluster", "simple-test"): (
        {"input.txt": QUICK, "more/notes.v2.txt": b"two words\n"},
        {},
    ),
    # the FDL sleeps 30 s per file; its script reads SLEEP_SECONDS
    ("oscar/examples/sleep-test/sleep-test.yaml", "oscar-cluster", "sleep-test"): (
        {"input.txt": QUICK},
        {"SLEEP_SECONDS": "1"},
    ),
    # `[[ =~ ]]` is not sh: under OSCAR's /bin/sh the script takes its 10 s default
    ("oscar-hub/crates/stress-test/fdl.yml", "oscar-cluster", "stress-test"): (
        {"input.txt": b"1\n"},
        {},
    ),
}
# what each other generating service's script needs that this machine does not have
NEEDS: dict[tuple[str, str], str] = {
    (
        "oscar/examples/body-pose-detection/body-pose-detection-async.yaml",
        "body-pose-detection-async",
    ): "deepaas-predict",
    ("oscar/examples/compss/c/workflow.yaml", "increment-compss-c"): "runcompss",
    ("oscar/examples/compss/java/workflow.yaml", "simple-compss-java"): "runcompss",
    ("oscar/examples/compss/python/workflow.yaml", "wordcount-compss-python"): "runcompss",
    ("oscar/examples/dog-breed-detector/dog-breed.yaml", "dog-breed-detector"): "deepaas-cli",
    (
        "oscar/examples/fish-detector/fish-detector-zip.yaml",
        "fish-detector-zip",
    ): "fish_detector.py",
    ("oscar/examples/fish-detector/fish-detector.yaml", "fish-detector"): "fish_detector.py",
    ("oscar/examples/fish-detector-replicas/fish-eu.yaml", "fish-detector"): "fish_detector.py",
    ("oscar/examples/imagemagick/imagemagick.yaml", "grayify"): "ImageMagick convert",
    (
        "oscar/examples/mask-detector-workflow/mask-detector-workflow.yaml",
        "anon-and-split",
    ): "ffmpeg",
    (
        "oscar/examples/mask-detector-workflow/mask-detector-workflow.yaml",
        "mask-detector",
    ): "mask-detector-image.py",
    ("oscar/examples/mount/grayify-mount.yaml", "grayifymount"): "ImageMagick convert",
    (
        "oscar/examples/plant-classification-theano/plant-classification-theano.yaml",
        "plants",
    ): "/opt/plant-classification-theano",
    (
        "oscar/examples/plants-classification-tensorflow/plants-classification.yaml",
        "plants-classification",
    ): "deepaas-cli",
    ("oscar/examples/radiomics/radiomics.yaml", "radiomics"): "/opt/radiomics",
    ("oscar/examples/stable-diffusion/stable-diff.yaml", "stable-diffusion-tf"): "text2image.py",
    (
        "oscar/examples/text-to-speech-coqui/text-to-speech-coqui.yaml",
        "text-to-speech-coqui",
    ): "tts",
    (
        "oscar/examples/text-to-speech-google/text-to-speech-google.yaml",
        "text-to-speech-google",
    ): "/opt/tts.py",
    ("oscar/examples/video-process/video-process.yaml", "split-video"): "ffmpeg",
    ("oscar/examples/video-process/video-process.yaml", "darknet"): "/opt/darknet",
    ("oscar/examples/yolov8/yolov8.yaml", "yolov8"): "deepaas-cli",
    (
        "oscar-batch/examples/obsea-fish-detector/fish-detector.yaml",
        "fish-detector",
    ): "fish_detector.py",
    (
        "oscar-cli/example-workflow/example-workflow.yaml",
        "plants",
    ): "/opt/plant-classification-theano",
    ("oscar-cli/example-workflow/example-workflow.yaml", "grayify"): "ImageMagick convert",
    ("oscar-hub/crates/fish-detector/fdl.yml", "fish-detector"): "fish_detector.py",
    ("oscar-hub/crates/imagemagick/fdl.yml", "imagemagick"): "ImageMagick convert",
    ("oscar-hub/crates/kokoro-tts/fdl.yml", "kokoro-tts"): "/app/kokoro_factory.py",
    ("oscar-hub/crates/plants-classification/fdl.yml", "plants-classification"): "deepaas-cli",
    ("oscar-hub/crates/vosk-stt/fdl.yml", "vosk-stt"): "vosk",
    ("oscar-hub/crates/yolov8/fdl.yml", "yolov8"): "deepaas-cli",
    # generated once given input.bucket (OSCAR calls them synchronously)
    ("oscar/examples/cowsay/cowsay.yaml", "cowsay"): "/usr/games/cowsay",
    ("oscar-hub/crates/cowsay/fdl.yml", "cowsay"): "/usr/games/cowsay",
    ("oscar/examples/secrets-usage/secret-usage.yaml", "cowsay-secret"): "/usr/games/cowsay",
    (
        "oscar/examples/plant-classification-sync/plant-classification-sync.yaml",
        "plant-classification-sync",
    ): "deepaas-cli",
    ("oscar/examples/volumes/volume-demo.yaml", "volume-demo"): "a PersistentVolumeClaim",
}
# stress-test writes the time it started and ended: the only bytes that may differ
TIMES = re.compile(rb"^(Start|End) timestamp: [0-9]+$", re.MULTILINE)


def test_every_generating_service_runs_here_or_says_what_it_needs() -> None:
    generating = {
        (rel, name)
        for rel, _, name, reason in EXPECTED
        if reason is None or reason.startswith("input.bucket")
    }
    runnable = {(rel, name) for rel, _, name in RUNS}
    assert runnable | set(NEEDS) == generating
    assert not runnable & set(NEEDS)
    for need in NEEDS.values():  # what is missing is missing (this machine's convert is a
        # stand-in that only turns a PNG into a PPM)
        if need.startswith("/"):
            assert not Path(need).exists()
        elif " " not in need and not need.endswith(".py"):
            assert shutil.which(need) is None


def _fdl_service(rel: str, cluster: str, name: str) -> dict[str, Any]:
    from tests.test_fdl_conformance import _service

    return _service(DATA / rel, cluster, name)


def _storage(entry: dict[str, Any]) -> tuple[str, str]:
    bucket, _, folder = str(entry["path"]).strip("/").partition("/")
    return bucket, folder


def _spec(folder: Path, rel: str, cluster: str, name: str, env: dict[str, str]) -> Path:
    """The published FDL and script as they are, in layout oscar."""
    fdl = DATA / rel
    shutil.copy(fdl, folder / "f.yaml")
    script = _fdl_service(rel, cluster, name)["script"]
    shutil.copy(fdl.parent / script, folder / script)
    env_text = f", env: {json.dumps(env)}" if env else ""
    spec = folder / "batch.yaml"
    spec.write_text(
        f"name: conformance\nservice: {{fdl: f.yaml, name: {name}, cluster: {cluster}{env_text}}}\n"
        "output: {layout: oscar}\nplanning: {max_workers: 1}\n"
    )
    return spec


def _run(spec: Path, data: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        app, ["run", str(spec), "--local", "--data-dir", str(data), "-o", "json", *extra]
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    return dict(json.loads(result.stdout))


def _reference(
    data: Path, rel: str, cluster: str, name: str, env: dict[str, str], workdir: Path
) -> None:
    svc = _fdl_service(rel, cluster, name)
    bucket, folder = _storage(svc["input"][0])
    keys = sorted(
        str(p.relative_to(data / bucket))
        for p in (data / bucket / folder).rglob("*")
        if p.is_file()
    )
    variables = (svc.get("environment") or {}).get("variables") or {}
    oscar_reference.run(
        DATA / rel.rsplit("/", 1)[0] / svc["script"],
        data,
        bucket,
        keys,
        [
            oscar_reference.Output(
                o["path"], tuple(o.get("prefix") or ()), tuple(o.get("suffix") or ())
            )
            for o in svc["output"]
        ],
        {**{str(k): str(v) for k, v in variables.items()}, **env},
        workdir,
    )


def _inputs(data: Path, rel: str, cluster: str, name: str, files: dict[str, bytes]) -> None:
    bucket, folder = _storage(_fdl_service(rel, cluster, name)["input"][0])
    for key, body in files.items():
        path = data / bucket / folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


@pytest.mark.parametrize(("rel", "cluster", "name"), sorted(RUNS))
def test_published_script_stores_what_oscar_stores(
    tmp_path: Path, rel: str, cluster: str, name: str
) -> None:
    files, env = RUNS[(rel, cluster, name)]
    ours, theirs = tmp_path / "ours", tmp_path / "oscar"
    for data in (ours, theirs):
        _inputs(data, rel, cluster, name, files)
    (tmp_path / "spec").mkdir()
    # OSCAR's run beside ours, not after it: stress-test's script spins for 10 s in each
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reference = pool.submit(_reference, theirs, rel, cluster, name, env, tmp_path)
        report = _run(_spec(tmp_path / "spec", rel, cluster, name, env), ours)
        reference.result()
    assert report["succeeded"] == len(files)
    for output in _fdl_service(rel, cluster, name)["output"]:
        bucket, folder = _storage(output)
        expected = oscar_reference.tree(theirs / bucket / folder)
        got = oscar_reference.tree(ours / bucket / folder)
        assert expected  # the reference stored something to compare with
        assert {k: TIMES.sub(rb"\1", v) for k, v in got.items()} == {
            k: TIMES.sub(rb"\1", v) for k, v in expected.items()
        }


# Stand-ins for the commands of the mask-detector images: ffmpeg cuts a video into frames,
# the two Python programs sit in the images' working folder.
FFMPEG = """#!/bin/sh
# ffmpeg -i VIDEO -vf fps=12/60 FOLDER/img%d.jpg: two "frames" of the video's bytes
for i in 1 2; do
  { cat "$2"; echo "frame $i"; } > "$(printf '%s' "$5" | sed "s/%d/$i/")"
done
"""
BLUR = """import sys
i, o = sys.argv[2], sys.argv[4]
data = open(i, "rb").read()
open(o, "wb").write(b"blurred " + data)
"""
MASK = """import sys
i, o = sys.argv[2], sys.argv[4]
data = open(i, "rb").read()
open(o, "wb").write(b"masked " + data)
"""
CHAIN = "oscar/examples/mask-detector-workflow/mask-detector-workflow.yaml"


def test_published_chain_runs_as_on_oscar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """anon-and-split's output folder is mask-detector's input folder: the second service
    processes exactly the frames the first stored, in subfolders, as on OSCAR."""
    image = tmp_path / "image"  # what the two images add: ffmpeg and the Python programs
    image.mkdir()
    (image / "ffmpeg").write_text(FFMPEG)
    (image / "ffmpeg").chmod(0o755)
    (image / "auto_blur_image.py").write_text(BLUR)
    (image / "mask-detector-image.py").write_text(MASK)
    (image / "python").symlink_to(sys.executable)  # the images' `python`
    # the reference runs on this machine: it finds ffmpeg on PATH
    monkeypatch.setenv("PATH", f"{image}:{os.environ['PATH']}")
    images = [
        f"--image-dir={name}={image}"
        for name in ("grycap/blurry-faces", "grycap/mask-detector-yolo")
    ]
    ours, theirs = tmp_path / "ours", tmp_path / "oscar"
    videos = {"street.mp4": b"video one\n", "plaza.mp4": b"video two\n"}
    for data in (ours, theirs):
        _inputs(data, CHAIN, "my_oscar", "anon-and-split", videos)
    reports = []
    for name in ("anon-and-split", "mask-detector"):
        folder = tmp_path / name
        folder.mkdir()
        spec = _spec(folder, CHAIN, "my_oscar", name, {})
        spec.write_text(spec.read_text().replace("}\n", f", workdir: {image}}}\n", 1))
        reports.append(_run(spec, ours, *images))
        _reference(theirs, CHAIN, "my_oscar", name, {}, image)
    assert [r["succeeded"] for r in reports] == [2, 4]  # 2 videos, then their 4 frames only
    for folder in ("intermediate", "result"):
        expected = oscar_reference.tree(theirs / "mask-detector" / folder)
        assert oscar_reference.tree(ours / "mask-detector" / folder) == expected
    assert expected["street/img1.jpg"] == b"masked blurred video one\nframe 1\n"
