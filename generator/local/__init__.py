"""`run --local`: a cluster stand-in, each module named after what it stands in for (Argo's
controller and workflowpod.go, kubelet, the apiserver), plus the local rclone processes."""
