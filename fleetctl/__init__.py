"""fleetctl: one place to see and upgrade a fleet of Kata Containers nodes on Kubernetes.

The front of the product: the CLI, the TUI, the daemon, the demo and configuration. It
imports every other package; none of them imports it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fleetctl")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
