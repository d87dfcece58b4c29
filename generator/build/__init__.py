"""Author time: a spec turned into Argo YAML (workflow, worker pod, runner script, mount
sidecar, RBAC, the golden files). Only `build.workflow` imports Hera."""
