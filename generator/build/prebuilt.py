"""A spec's workflow built by a child process (generator/forked) that imports Hera (0.3-1 s)
while `run --local` loads its command, the spec and the local cluster. The entry point starts
it when `run` is given a spec; the YAML is the same bytes as `workflow.to_yaml` in this
process, which is what happens without a child (and what raises the spec's errors).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from generator.forked import Child

if TYPE_CHECKING:  # imported by the child, or by the caller: not before the fork
    from generator.spec.model import BatchSpec


def _prepare() -> Callable[[bytes], bytes]:
    from generator.build import workflow
    from generator.spec.model import BatchSpec

    return lambda spec: workflow.to_yaml(BatchSpec.model_validate_json(spec)).encode("utf-8")


builder = Child(_prepare)  # the entry point starts it for `run SPEC --local`


def to_yaml(spec: BatchSpec) -> str:
    """The workflow's YAML: the child's, when one was started and answers, else built here."""
    built = builder.ask(spec.model_dump_json().encode("utf-8"))
    if built is not None:
        return built.decode("utf-8")
    from generator.build import workflow  # Hera

    return workflow.to_yaml(spec)
