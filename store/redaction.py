"""Secrets that must never be printed, logged or stored, and the filter that hides them.

Whatever reads a secret (a database URL's password, a kubeconfig token) registers it here.
Every message that leaves fleetctl through the CLI's error printer or the logging system is
passed through ``redact``. This is the last line of defence; code should not format
secrets into messages in the first place.
"""

from __future__ import annotations

import logging
import threading

_MASK = "***"
_MIN_LEN = 4  # shorter values would mask ordinary words
_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember ``value`` as secret for the rest of the process."""
    if value and len(value) >= _MIN_LEN:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the rendered message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
