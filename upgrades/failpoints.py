"""Failpoints: kill the executor at an exact step, for crash-safety tests and chaos runs.

``FLEETCTL_FAILPOINTS=after:cordon`` makes the process SIGKILL itself the first time it
reaches that point (``before:STEP`` or ``after:STEP``; several, comma-separated). The same
technique as etcd's gofail: the crash is real, and the test knows exactly where it happened.
Unset, a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "FLEETCTL_FAILPOINTS"


def hit(point: str) -> None:
    """Die here if ``point`` is armed."""
    armed = os.environ.get(ENV)
    if armed and point in {p.strip() for p in armed.split(",")}:
        os.kill(os.getpid(), signal.SIGKILL)
