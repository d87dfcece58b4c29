"""The worker pod's containers and their resources: one definition for the workflow and the planner.

OSCAR sets a service's cpu/memory as limits, so requests equal limits; `enable_gpu` adds one
`nvidia.com/gpu`. Each bucket mount (`mounts`) adds an rclone sidecar with its own small request.
The planner counts exactly these containers, so the width it picks is what the pods ask for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.spec import BatchSpec

GPU = "nvidia.com/gpu"
# Bucket names cannot start with '.', so this folder never shadows OSCAR's /mnt/<bucket>.
WRITE_ROOT = ".oscar-batch"


@dataclass(frozen=True)
class Mount:
    """One rclone mount of a worker pod (one sidecar each)."""

    bucket: str
    point: str
    read_only: bool


def mounts(spec: BatchSpec, mnt_root: str) -> list[Mount]:
    """The worker's bucket mounts, input first.

    The input is mounted read-only at OSCAR's path, /mnt/<bucket>: a script that deletes or
    rewrites `$INPUT_FILE_PATH` (normal in OSCAR, where it is a private copy) fails that file
    and never touches the bucket. The runner writes through a read-write mount: of the output
    bucket at /mnt/<bucket>, or, when the output shares the input bucket, a second mount of it
    at /mnt/.oscar-batch/<bucket>.
    """
    root = mnt_root.rstrip("/")
    out = spec.output_bucket
    write_point = f"{root}/{WRITE_ROOT}/{out}" if out == spec.input.bucket else f"{root}/{out}"
    return [
        Mount(spec.input.bucket, f"{root}/{spec.input.bucket}", read_only=True),
        Mount(out, write_point, read_only=False),
    ]


def service_resources(spec: BatchSpec) -> dict[str, dict[str, str]]:
    """requests == limits, as OSCAR sets them."""
    amounts = {"cpu": spec.service.cpu, "memory": spec.service.memory}
    if spec.service.gpu:
        amounts[GPU] = str(spec.service.gpu)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def sidecar_resources(spec: BatchSpec) -> dict[str, dict[str, str]]:
    """The rclone sidecar asks for a little and may burst to the service's memory for buffers."""
    return {
        "requests": {"cpu": spec.worker.sidecar_cpu, "memory": spec.worker.sidecar_memory},
        "limits": {"memory": spec.worker.sidecar_memory},
    }


def pod_spec(spec: BatchSpec) -> dict[str, Any]:
    """The worker pod's containers in Kubernetes JSON shape, for `capacity.pod_requests`."""
    containers = [{"name": "main", "resources": service_resources(spec)}]
    containers += [
        {"name": f"mount-{i}", "resources": sidecar_resources(spec)}
        for i, _ in enumerate(mounts(spec, "/mnt"))
    ]
    executor = {"requests": dict(spec.planning.executor_requests)}
    if spec.planning.executor_requests:
        # Argo adds its `wait` sidecar and, for the script artifact, an `init` container
        containers.append({"name": "wait", "resources": executor})
        return {
            "containers": containers,
            "initContainers": [{"name": "init", "resources": executor}],
        }
    return {"containers": containers}
