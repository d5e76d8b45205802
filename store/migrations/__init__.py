"""Alembic migrations of the store, applied on open (``store.migrate``)."""
