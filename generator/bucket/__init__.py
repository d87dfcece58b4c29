"""The run folder in the output bucket: its layout and object formats, and their readers
(identity, results, lock, merge, runs, compare). Shared by the stages and the CLI."""
