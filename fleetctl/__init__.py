"""fleetctl: one place to see and upgrade a fleet of Kata Containers nodes on Kubernetes.

The front of the product: the CLI, the TUI, the daemon, the demo and configuration. It
imports every other package; none of them imports it.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed metadata only when asked (it costs 30 ms of imports)."""
    if name != "__version__":
        raise AttributeError(f"module 'fleetctl' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fleetctl")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"
