"""upgrade runs: rollback runs, per-node targets and gate results

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upgrade_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="upgrade"))
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("wave", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gate_results", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("node_step", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target_version", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("facts", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("node_step", schema=None) as batch_op:
        batch_op.drop_column("facts")
        batch_op.drop_column("position")
        batch_op.drop_column("target_version")
    with op.batch_alter_table("wave", schema=None) as batch_op:
        batch_op.drop_column("gate_results")
    with op.batch_alter_table("upgrade_run", schema=None) as batch_op:
        batch_op.drop_column("parent_id")
        batch_op.drop_column("kind")
