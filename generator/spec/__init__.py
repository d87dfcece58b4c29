"""What users write: the batch spec model, `--set` overrides, OSCAR FDL import, safe YAML
reading, endpoint URLs and Kubernetes quantities. Imports nothing above `errors`."""
