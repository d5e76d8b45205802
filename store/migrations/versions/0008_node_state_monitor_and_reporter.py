"""node_state: kata_pods (Running Kata pods), kata_monitor_namespace, reporter_source

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("node_state") as batch:
        batch.add_column(sa.Column("kata_pods", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("kata_monitor_namespace", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.add_column(sa.Column("reporter_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("node_state") as batch:
        batch.drop_column("reporter_source")
        batch.drop_column("kata_monitor_namespace")
        batch.drop_column("kata_pods")
