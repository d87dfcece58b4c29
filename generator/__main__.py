"""The `oscar-batch` command and `python -m generator` (the runtime image's entry point).

Work a command will need can start here, before the command line's own imports (~0.3 s of
CPU): the aggregate pod's page is drawn by a child process that imports matplotlib meanwhile
(stages/pagedraw), on the pod's other core.
"""

import sys


def main() -> None:
    if sys.argv[1:3] == ["stage", "aggregate"]:
        from generator.stages import pagedraw

        pagedraw.start()
    from generator.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()
