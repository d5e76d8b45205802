"""audit_event.op: a write is recorded before it is sent (pending), then updated with its result

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("op", sa.String(length=32), nullable=True))
        batch.create_index("ix_audit_event_op", ["op"])


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_index("ix_audit_event_op")
        batch.drop_column("op")
