"""The user each image runs as, and the kubelet's runAsNonRoot check against it (pure).

kubelet (pkg/kubelet/kuberuntime): before creating a container it takes the image's user
(getImageUser: the image config's numeric USER, its user name, or root when the image sets
none) and refuses a container whose effective securityContext has `runAsNonRoot: true` with
no `runAsUser` when that user is root or a name (verifyRunAsNonRoot,
security_context_others.go). The container is never created: the pod stays Pending with
CreateContainerConfigError. Images cannot be inspected here, so their users come from a
table: the images the generator uses, those given with `--image-user`, else root.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generator.build import workerpod

# argoexec (Argo's Dockerfile, target argoexec: distroless/static, no USER) runs as root; the
# `-nonroot` tag (target argoexec-nonroot) as 8737. rclone/rclone (alpine, no USER) as root.
ARGOEXEC_NONROOT_USER = 8737


def repository(image: str) -> str:
    """`registry/path/name` of an image reference, without tag or digest."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rfind(":")]
    return name


def _tag(image: str) -> str:
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.partition(":")[2]


def user_of(image: str, runtime_image: str, given: Mapping[str, str]) -> str:
    """The image's USER: a uid or a name; "0" when the image sets none."""
    if image in given or repository(image) in given:
        return str(given.get(image, given.get(repository(image))))
    repo = repository(image)
    if image == runtime_image or repo.endswith("/oscar-batch"):
        return str(workerpod.RUNTIME_UID)
    if repo.rsplit("/", 1)[-1] == "argoexec" and _tag(image).endswith("-nonroot"):
        return str(ARGOEXEC_NONROOT_USER)
    return "0"


def effective(pod_sc: Mapping[str, Any], container_sc: Mapping[str, Any]) -> dict[str, Any]:
    """securitycontext.DetermineEffectiveSecurityContext for the fields checked here."""
    keys = ("runAsNonRoot", "runAsUser", "runAsGroup")
    out = {k: pod_sc[k] for k in keys if pod_sc.get(k) is not None}
    out.update({k: container_sc[k] for k in keys if container_sc.get(k) is not None})
    return out


def refusal(pod: Mapping[str, Any], container: Mapping[str, Any], image_user: str) -> str | None:
    """verifyRunAsNonRoot's error for one container, or None."""
    sc = effective(
        (pod.get("spec") or {}).get("securityContext") or {}, container.get("securityContext") or {}
    )
    if not sc.get("runAsNonRoot"):
        return None
    meta = pod.get("metadata") or {}
    # format.Pod: name_namespace
    where = (
        f'(pod: "{meta.get("name")}_{meta.get("namespace")}", container: {container.get("name")})'
    )
    if sc.get("runAsUser") is not None:
        if int(sc["runAsUser"]) == 0:
            return f"container's runAsUser breaks non-root policy {where}"
        return None
    if not image_user.isdigit():
        return (
            f"container has runAsNonRoot and image has non-numeric user ({image_user}),"
            f" cannot verify user is non-root {where}"
        )
    if int(image_user) == 0:
        return f"container has runAsNonRoot and image will run as root {where}"
    return None
