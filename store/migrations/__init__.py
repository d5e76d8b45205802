"""Alembic migrations of the store, applied on open (``store.migrate``)."""

HEAD = "0008"
"""The newest revision in ``versions/``. Opening an up-to-date store compares the stored
revision with this, without loading Alembic; a test keeps it equal to Alembic's own head."""
