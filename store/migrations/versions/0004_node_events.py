"""node_event: recent Kubernetes Events about each node

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.sqltypes

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("at", store.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=128), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("object", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["node.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("node_id", "uid", name="uq_node_event_node_uid"),
    )
    op.create_index(op.f("ix_node_event_at"), "node_event", ["at"], unique=False)
    op.create_index(op.f("ix_node_event_node_id"), "node_event", ["node_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_node_event_node_id"), table_name="node_event")
    op.drop_index(op.f("ix_node_event_at"), table_name="node_event")
    op.drop_table("node_event")
