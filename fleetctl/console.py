"""Writing diagnostics: stderr only, secrets redacted, no tracebacks for expected errors."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from store.errors import FleetctlError
from store.redaction import redact

if TYPE_CHECKING:
    from store.engine import Store


def err(message: str) -> None:
    """One diagnostic line (or block) on stderr."""
    sys.stderr.write(redact(message).rstrip("\n") + "\n")
    sys.stderr.flush()


def say_if_created(store: Store) -> None:
    """Tell the user when opening the store made a new file: a typo'd path should be noticed."""
    if store.created:
        err(f"note: created a new fleetctl store at {store.url.sqlite_path}")


def print_error(error: FleetctlError) -> None:
    """An expected error as ``error: WHERE: WHAT`` plus its hint."""
    err(f"error: {error}")


def print_internal_error(error: BaseException, *, debug: bool) -> None:
    """An unexpected error: a short line, and the traceback only when asked for."""
    if debug:
        import traceback

        err("".join(traceback.format_exception(error)))
    err(
        f"internal error: {type(error).__name__}: {error}\n"
        "  hint: this is a bug in fleetctl; rerun with FLEETCTL_DEBUG=1 for the traceback and report it"
    )
