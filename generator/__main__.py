"""`python -m generator` runs the CLI (the runtime image's entry point)."""

from generator.cli import main

main()
