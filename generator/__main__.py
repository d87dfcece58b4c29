"""The `oscar-batch` command and `python -m generator` (the runtime image's entry point).

Before the command line's own imports (~0.3 s of CPU), a child process starts on the work the
command will need last (generator/forked): Hera to build a spec's workflow for `run`, matplotlib
to draw the run's page in the aggregate pod. Only time depends on it: without a child, or
when it fails, the command does the same work itself.
"""

import re
import sys
from pathlib import Path

# a workflow document, which `run` executes as it is (no spec to build)
_WORKFLOW = re.compile(rb"^kind:\s*(Cron)?Workflow(Template)?\s*$", re.M)


def _runs_a_spec(args: list[str]) -> bool:
    """`run ... --local` given a file that is not a workflow document (a batch spec, an FDL)."""
    if "--local" not in args:
        return False
    for arg in args:
        try:
            head = Path(arg).read_bytes()[: 1 << 16] if arg.endswith((".yaml", ".yml")) else None
        except OSError:
            head = None
        if head is not None:
            return not _WORKFLOW.search(head)
    return False


def main() -> None:
    command = sys.argv[1:]
    if command[:2] == ["stage", "aggregate"]:
        from generator.stages import pagedraw

        pagedraw.drawer.start()
    elif command[:1] == ["run"] and _runs_a_spec(command[1:]):
        from generator.build import prebuilt

        prebuilt.builder.start()
    from generator.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()
