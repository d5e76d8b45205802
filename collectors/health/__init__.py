"""The health collector: per-node checks from Prometheus (kata-monitor) and Kubernetes signals."""
