"""Collectors read the world (Kubernetes, Prometheus, release feeds) and write the store.

They import ``store`` and ``clients`` only.
"""
