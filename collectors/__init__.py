"""Collectors read the world (Kubernetes, Prometheus, release feeds) and write the store.

Imports ``store`` only. Filled in by the collectors issue.
"""
