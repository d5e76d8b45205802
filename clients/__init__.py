"""The clients: how fleetctl talks to the outside world over HTTP.

``clients.kube`` is the Kubernetes API client (kubeconfig contexts, raw-JSON lists and watches
over the official client's transport, and the API error tree); ``clients.prom`` is the
Prometheus client; ``clients.failures`` puts a failed request in plain words. Both
``collectors`` and ``upgrades`` use them, so they sit below both and import only ``store``.
"""
