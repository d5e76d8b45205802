"""The inventory collector: what runs on every node, from the Kubernetes API, into the store."""
