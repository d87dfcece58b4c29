"""The worker pod's containers and their resources: one definition for the workflow and the planner.

The service script runs in the `service` container with the service's resources: OSCAR sets a
service's cpu/memory as limits, so requests equal limits; `enable_gpu` adds one
`nvidia.com/gpu`. The runner's container (main) asks for little (RUNNER_RESOURCES). Each bucket
mount (`mounts`) adds an rclone sidecar with its own small request. The planner counts exactly
these containers, so the width it picks is what the pods ask for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.errors import SpecError
from generator.spec import quantity
from generator.spec.model import BatchSpec

GPU = "nvidia.com/gpu"
RUNTIME_UID = 10001  # the runtime image's USER (Dockerfile): plan and aggregate run as it
# Bucket names cannot start with '.', so this folder never shadows OSCAR's /mnt/<bucket>.
WRITE_ROOT = ".oscar-batch"


# The worker pod's own folders (emptyDirs), at the same path in the runner's container (main)
# and the service container (templates/runner.sh.j2, service.sh.j2): CTL is the runner's (its
# FIFOs to the service container, a batch's list), read-only in the service container; WORK is
# the service container's (each invocation's TMP_INPUT_DIR, TMP_OUTPUT_DIR, log), read-only in
# the runner's. The runner copies the script to CONFIG, which the service container mounts
# read-only at OSCAR's place, SERVICE_CONFIG (Argo loads input artifacts into main only:
# workflow/controller/workflowpod.go addInputArtifactsVolumes).
CTL_DIR = "/oscar-batch/ctl"
WORK_DIR = "/oscar-batch/work"
CONFIG_DIR = "/oscar-batch/config"
SERVICE_CONFIG_DIR = "/oscar/config"


@dataclass(frozen=True)
class Mount:
    """One rclone mount of a worker pod (one sidecar each): a bucket, or a folder of it, and
    which of the runner's and the service's containers mount it."""

    bucket: str
    point: str
    read_only: bool
    prefix: str = ""  # only the keys under it are mounted (the point shows them without it)
    runner: bool = True
    service: bool = False

    @property
    def remote(self) -> str:
        """What rclone mounts: `bucket` or `bucket/folder`."""
        return f"{self.bucket}/{self.prefix}".rstrip("/")


def mounts(spec: BatchSpec, mnt_root: str, run: str) -> list[Mount]:
    """The worker's bucket mounts, input first.

    The input is mounted read-only at OSCAR's path, /mnt/<bucket>, in both containers (the
    service container copies each input from it, batch and range scripts read it): a script
    that deletes or rewrites `$INPUT_FILE_PATH` (normal in OSCAR, where it is a private copy)
    fails that file and never touches the bucket. The runner writes through a read-write mount
    of the run's folder only (`<output.prefix><run>/` of the output bucket) at
    /mnt/.oscar-batch/<bucket>, which the service container does not mount: a script cannot
    write a result, the run's bookkeeping, the inputs or other runs, even when input and
    output share a bucket. The service's own `mount` bucket, if any, comes last, read-write as
    under OSCAR, in the service container only.

    Args:
        run: the run name (an Argo expression in a workflow).
    """
    root = mnt_root.rstrip("/")
    out = spec.output_bucket
    found = [
        Mount(spec.input.bucket, f"{root}/{spec.input.bucket}", read_only=True, service=True),
        Mount(out, f"{root}/{WRITE_ROOT}/{out}", False, f"{spec.output.prefix}{run}/"),
    ]
    extra = spec.service.mount
    if extra and f"{root}/{extra.bucket}" not in {m.point for m in found}:
        # OSCAR's `mount` of a further bucket, read-write at /mnt/<bucket> as OSCAR mounts it
        found.append(
            Mount(extra.bucket, f"{root}/{extra.bucket}", False, runner=False, service=True)
        )
    return found + target_mounts(spec, root)


def target_mounts(spec: BatchSpec, root: str) -> list[Mount]:
    """One read-write mount per folder of OSCAR's outputs (layout oscar), of that folder only
    (the runner stores outputs there, nothing else), at /mnt/.oscar-batch/.outputs/<i> (OSCAR
    itself mounts no output; a bucket name cannot start with '.'), in the runner's container."""
    folders = dict.fromkeys((t.bucket, t.prefix) for t in spec.output.targets)
    return [
        Mount(bucket, f"{root}/{WRITE_ROOT}/.outputs/{i}", False, prefix)
        for i, (bucket, prefix) in enumerate(folders)
    ]


def target_dirs(spec: BatchSpec, mnt_root: str) -> list[str]:
    """Where each of OSCAR's outputs (layout oscar) is written: its folder's mount point."""
    points = {(m.bucket, m.prefix): m.point for m in target_mounts(spec, mnt_root.rstrip("/"))}
    return [points[(t.bucket, t.prefix)] for t in spec.output.targets]


def service_resources(spec: BatchSpec) -> dict[str, dict[str, str]]:
    """The service container's: requests == limits, as OSCAR sets them."""
    amounts = {"cpu": spec.service.cpu, "memory": spec.service.memory}
    if spec.service.gpu:
        amounts[GPU] = str(spec.service.gpu)
    return {"requests": dict(amounts), "limits": dict(amounts)}


# The runner's container: a shell loop that copies outputs through the mount (rclone holds the
# buffers) and hashes them; its awk reads one manifest line at a time.
RUNNER_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}

MIB = 2**20
# rclone's memory in a sidecar (vfs cache off): its own ~64Mi, then per file open for reading
# one read-ahead buffer (--buffer-size, default 16Mi; a smaller file takes its size), and per
# file open for writing the multipart chunks in flight (--s3-chunk-size 5Mi x
# --s3-upload-concurrency 4). The runner holds at most two files open per mount (the manifest
# or the input, and the file the script reads; one output being copied).
RCLONE_BASE = 64 * MIB
READ_BUFFER = 16 * MIB
WRITE_BUFFER = 5 * MIB * 4
OPEN_FILES = 2


# A namespace whose ResourceQuota tracks limits.cpu refuses a container without one
# (quota "must specify"): every container declares both. rclone's FUSE reads burst above its
# request; half a core keeps a mount from being throttled while the service computes.
SIDECAR_CPU_LIMIT = "500m"
# the plan and aggregate pods' (listing, report) requests and limits
STAGE_RESOURCES = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}


def sidecar_memory_need() -> int:
    """Bytes one mount sidecar needs: base + OPEN_FILES x (read buffer + write chunks)."""
    return RCLONE_BASE + OPEN_FILES * (READ_BUFFER + WRITE_BUFFER)


def sidecar_resources(spec: BatchSpec) -> dict[str, dict[str, str]]:
    """The rclone sidecar's request and limit (`worker.sidecar_memory`, checked against need).

    Raises:
        SpecError: the memory is below what rclone's buffers take (it would be OOM-killed).
    """
    need = sidecar_memory_need()
    if quantity.parse(spec.worker.sidecar_memory) < need:
        raise SpecError(
            f"worker.sidecar_memory {spec.worker.sidecar_memory} is below the {need // MIB}Mi"
            " rclone's buffers take (64Mi + 2 open files x (16Mi read-ahead + 4 x 5Mi chunks))"
        )
    return {
        "requests": {"cpu": spec.worker.sidecar_cpu, "memory": spec.worker.sidecar_memory},
        "limits": {
            "cpu": max(spec.worker.sidecar_cpu, SIDECAR_CPU_LIMIT, key=quantity.parse),
            "memory": spec.worker.sidecar_memory,
        },
    }


def pod_spec(spec: BatchSpec) -> dict[str, Any]:
    """The worker pod's containers in Kubernetes JSON shape, for `capacity.pod_requests`."""
    containers = [
        {"name": "main", "resources": RUNNER_RESOURCES},
        {"name": "service", "resources": service_resources(spec)},
    ]
    containers += [
        {"name": f"mount-{i}", "resources": sidecar_resources(spec)}
        for i, _ in enumerate(mounts(spec, "/mnt", "run"))
    ]
    # Argo adds its `wait` container and an `init` one, with the controller's
    # executor.resources (nothing by default): the spec says what the controller sets
    executor = {
        "requests": dict(spec.planning.executor_requests),
        "limits": dict(spec.planning.executor_limits),
    }
    containers.append({"name": "wait", "resources": executor})
    return {"containers": containers, "initContainers": [{"name": "init", "resources": executor}]}
