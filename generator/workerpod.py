"""The worker pod's containers and their resources: one definition for the workflow and the planner.

OSCAR sets a service's cpu/memory as limits, so requests equal limits; `enable_gpu` adds one
`nvidia.com/gpu`. Each mounted bucket adds an rclone sidecar with its own small request.
The planner counts exactly these containers, so the width it picks is what the pods ask for.
"""

from __future__ import annotations

from typing import Any

from generator.spec import BatchSpec

GPU = "nvidia.com/gpu"


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
        for i, _ in enumerate(spec.buckets)
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
