"""node_state.stale_sandboxes: Running Kata pods started before the node's last install

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("node_state") as batch:
        batch.add_column(sa.Column("stale_sandboxes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("node_state") as batch:
        batch.drop_column("stale_sandboxes")
