"""The ``fleetctl`` command line (typer). ``main`` is the console script."""

from __future__ import annotations

from fleetctl.cli.app import app, main, run

__all__ = ["app", "main", "run"]
