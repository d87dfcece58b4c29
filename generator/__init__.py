"""oscar-batch: batch-process a MinIO bucket with an OSCAR service as an Argo Workflow."""

__version__ = "0.1.0"
