"""The on-call query language, shared by the CLI, the TUI and upgrade plans (docs/queries.md)."""

from __future__ import annotations

from store.query.parser import QuerySyntaxError, parse

__all__ = ["QuerySyntaxError", "parse"]
