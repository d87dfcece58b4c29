"""Clients of the services a run talks to: S3 (minio), the Argo Server (Hera), the
Kubernetes API (the official client). Errors become one line."""
