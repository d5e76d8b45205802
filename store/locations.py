"""Where the default store lives, and the SQLite settings both ways of opening it share."""

from __future__ import annotations

import os
from pathlib import Path

SQLITE_BUSY_TIMEOUT_MS = 10_000


def default_sqlite_path() -> Path:
    """``$XDG_DATA_HOME/fleetctl/fleetctl.db``, or ``~/.local/share/fleetctl/fleetctl.db``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fleetctl" / "fleetctl.db"
