"""The Kubernetes adapter: kubeconfig contexts, raw-JSON lists and watches, and the API error tree."""
