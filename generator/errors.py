"""The small error hierarchy the library raises and the CLI turns into one line on stderr."""


class OscarBatchError(Exception):
    """Base of every error a user can act on; its message is one line, with no secret in it."""

    exit_code = 1


class SpecError(OscarBatchError):
    """A batch spec or an OSCAR FDL is unreadable or invalid."""


class ClusterError(OscarBatchError):
    """The cluster cannot be read, or nothing fits on it."""


class StorageError(OscarBatchError):
    """The S3 endpoint refused, or a bucket/prefix is missing or empty."""


class LintError(OscarBatchError):
    """A workflow file cannot be read as YAML."""


class RunError(OscarBatchError):
    """A local run could not start or did not finish."""
