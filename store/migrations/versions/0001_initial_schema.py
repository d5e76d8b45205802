"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import store.sqltypes

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column(
            "server", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True
        ),
        sa.Column(
            "created_at", store.sqltypes.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_collected_at",
            store.sqltypes.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "release",
        sa.Column(
            "version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        ),
        sa.Column(
            "sort_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False
        ),
        sa.Column(
            "published_at", store.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("prerelease", sa.Boolean(), nullable=False),
        sa.Column("guest_kernel", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("hypervisors", sa.JSON(), nullable=False),
        sa.Column("arches", sa.JSON(), nullable=False),
        sa.Column("assets", sa.JSON(), nullable=False),
        sa.Column(
            "source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
        ),
        sa.Column(
            "synced_at", store.sqltypes.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("release", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_release_sort_key"), ["sort_key"], unique=False
        )

    op.create_table(
        "upgrade_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column(
            "target_version",
            sqlmodel.sql.sqltypes.AutoString(length=64),
            nullable=False,
        ),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", store.sqltypes.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "started_at", store.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "finished_at", store.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "updated_at", store.sqltypes.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "holder", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=True
        ),
        sa.Column(
            "lease_expires_at", store.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("upgrade_run", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_upgrade_run_state"), ["state"], unique=False
        )

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", store.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "actor", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False
        ),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column(
            "action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        ),
        sa.Column(
            "target", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False
        ),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "result", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
        ),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["upgrade_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_event_run_id"), ["run_id"], unique=False
        )

    op.create_table(
        "node",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column(
            "first_seen", store.sqltypes.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("gone_at", store.sqltypes.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cluster_id", "name", name="uq_node_cluster_name"),
    )
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_node_cluster_id"), ["cluster_id"], unique=False
        )

    op.create_table(
        "wave",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column(
            "started_at", store.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "finished_at", store.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "gate_state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True
        ),
        sa.Column("gate_message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["upgrade_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "number", name="uq_wave_run_number"),
    )
    with op.batch_alter_table("wave", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wave_run_id"), ["run_id"], unique=False)

    op.create_table(
        "health_check",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("remediation", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("since", store.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "checked_at", store.sqltypes.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["node.id"],
        ),
        sa.PrimaryKeyConstraint("node_id", "code"),
    )
    with op.batch_alter_table("health_check", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_health_check_status"), ["status"], unique=False
        )

    op.create_table(
        "health_transition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("at", store.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "old_status", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True
        ),
        sa.Column(
            "new_status", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False
        ),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["node.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("health_transition", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_health_transition_at"), ["at"], unique=False
        )
        batch_op.create_index(
            "ix_health_transition_node_at", ["node_id", "at"], unique=False
        )

    op.create_table(
        "node_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("at", store.sqltypes.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fact", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("old", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("new", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["node.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("node_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_change_at"), ["at"], unique=False)
        batch_op.create_index("ix_node_change_node_at", ["node_id", "at"], unique=False)

    op.create_table(
        "node_state",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column(
            "digest", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False
        ),
        sa.Column(
            "changed_at", store.sqltypes.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("system_uuid", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("arch", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("zone", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("cpu_capacity", sa.Integer(), nullable=True),
        sa.Column("cpu_allocatable", sa.Integer(), nullable=True),
        sa.Column("ready", sa.Boolean(), nullable=True),
        sa.Column("unschedulable", sa.Boolean(), nullable=False),
        sa.Column("taints", sa.JSON(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("host_kernel", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("os_image", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column(
            "container_runtime", sqlmodel.sql.sqltypes.AutoString(), nullable=True
        ),
        sa.Column("kubelet_version", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("boot_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("kata_label", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column(
            "kata_deploy_version", sqlmodel.sql.sqltypes.AutoString(), nullable=True
        ),
        sa.Column("kata_version", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column(
            "kata_version_sort", sqlmodel.sql.sqltypes.AutoString(), nullable=True
        ),
        sa.Column("kata_commit", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("guest_kernel", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("custom_kernel", sa.Boolean(), nullable=True),
        sa.Column("hypervisor", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column(
            "hypervisor_version", sqlmodel.sql.sqltypes.AutoString(), nullable=True
        ),
        sa.Column("machine_type", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("config_path", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("runtime_handlers", sa.JSON(), nullable=False),
        sa.Column("caa_version", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("peerpod_count", sa.Integer(), nullable=True),
        sa.Column("drift", sa.JSON(), nullable=False),
        sa.Column("parse_problems", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["node.id"],
        ),
        sa.PrimaryKeyConstraint("node_id"),
    )
    with op.batch_alter_table("node_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_state_arch"), ["arch"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_node_state_changed_at"), ["changed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_node_state_kata_version_sort"),
            ["kata_version_sort"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_node_state_zone"), ["zone"], unique=False)

    op.create_table(
        "node_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column(
            "from_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cordoned_by_us", sa.Boolean(), nullable=False),
        sa.Column(
            "started_at", store.sqltypes.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "updated_at", store.sqltypes.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["node.id"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["upgrade_run.id"],
        ),
        sa.ForeignKeyConstraint(
            ["wave_id"],
            ["wave.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "node_id", name="uq_node_step_run_node"),
    )
    with op.batch_alter_table("node_step", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_node_step_node_id"), ["node_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_node_step_run_id"), ["run_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_node_step_wave_id"), ["wave_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("node_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_step_wave_id"))
        batch_op.drop_index(batch_op.f("ix_node_step_run_id"))
        batch_op.drop_index(batch_op.f("ix_node_step_node_id"))

    op.drop_table("node_step")
    with op.batch_alter_table("node_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_state_zone"))
        batch_op.drop_index(batch_op.f("ix_node_state_kata_version_sort"))
        batch_op.drop_index(batch_op.f("ix_node_state_changed_at"))
        batch_op.drop_index(batch_op.f("ix_node_state_arch"))

    op.drop_table("node_state")
    with op.batch_alter_table("node_change", schema=None) as batch_op:
        batch_op.drop_index("ix_node_change_node_at")
        batch_op.drop_index(batch_op.f("ix_node_change_at"))

    op.drop_table("node_change")
    with op.batch_alter_table("health_transition", schema=None) as batch_op:
        batch_op.drop_index("ix_health_transition_node_at")
        batch_op.drop_index(batch_op.f("ix_health_transition_at"))

    op.drop_table("health_transition")
    with op.batch_alter_table("health_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_health_check_status"))

    op.drop_table("health_check")
    with op.batch_alter_table("wave", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wave_run_id"))

    op.drop_table("wave")
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_cluster_id"))

    op.drop_table("node")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_run_id"))
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))

    op.drop_table("audit_event")
    with op.batch_alter_table("upgrade_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upgrade_run_state"))

    op.drop_table("upgrade_run")
    with op.batch_alter_table("release", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_sort_key"))

    op.drop_table("release")
    op.drop_table("cluster")
