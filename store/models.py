"""The store's tables (SQLModel). Migrations in ``store/migrations`` must match these.

Layout, after architecture.md:
- ``cluster``, ``node`` (identity) and ``node_state`` (current facts, one row per node);
- ``node_change``: one row per changed fact, never a row when nothing changed;
- ``health_check`` (current result per node and code) and ``health_transition`` (each edge);
- ``release``: the catalog;
- ``upgrade_run`` / ``wave`` / ``node_step``: the rollout state machine;
- ``audit_event``: every change fleetctl made to a cluster.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.sqltypes import UTCDateTime


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


def _json(default: Any = None) -> Any:
    factory = (lambda: type(default)()) if default is not None else None
    if factory is None:
        return Field(default=None, sa_column=sa.Column(sa.JSON(), nullable=True))
    return Field(default_factory=factory, sa_column=sa.Column(sa.JSON(), nullable=False))


class Cluster(SQLModel, table=True):
    """A Kubernetes cluster fleetctl collects from (one kubeconfig context)."""

    __tablename__ = "cluster"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=253)
    server: str | None = Field(default=None, max_length=2048)
    created_at: datetime = _ts()
    last_collected_at: datetime | None = _ts(nullable=True)
    health_checked_at: datetime | None = _ts(nullable=True)


class Node(SQLModel, table=True):
    """A node's identity within its cluster. Nodes that disappear are marked gone, not deleted."""

    __tablename__ = "node"
    __table_args__ = (sa.UniqueConstraint("cluster_id", "name", name="uq_node_cluster_name"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="cluster.id", index=True)
    name: str = Field(max_length=253)
    uid: str | None = Field(default=None, max_length=64)
    first_seen: datetime = _ts()
    gone_at: datetime | None = _ts(nullable=True)


class NodeState(SQLModel, table=True):
    """A node's current facts: one column per ``store.facts.NodeFacts`` field.

    There is no per-node "last seen": a present node was seen at its cluster's
    ``last_collected_at``, a gone one last at its ``gone_at``.
    """

    __tablename__ = "node_state"

    node_id: int = Field(foreign_key="node.id", primary_key=True)
    digest: str = Field(max_length=32)
    changed_at: datetime = _ts(index=True)  # last time any fact changed

    uid: str | None = None
    system_uuid: str | None = None
    arch: str | None = Field(default=None, index=True)
    zone: str | None = Field(default=None, index=True)
    region: str | None = None
    cpu_capacity: int | None = None
    cpu_allocatable: int | None = None
    ready: bool | None = None
    unschedulable: bool = False
    taints: list[str] = _json([])
    conditions: list[str] = _json([])
    host_kernel: str | None = None
    os_image: str | None = None
    container_runtime: str | None = None
    kubelet_version: str | None = None
    boot_id: str | None = None
    kata_label: str | None = None
    kata_deploy_version: str | None = None
    kata_version: str | None = None
    kata_version_sort: str | None = Field(default=None, index=True)
    kata_commit: str | None = None
    guest_kernel: str | None = None
    custom_kernel: bool | None = None
    hypervisor: str | None = None
    hypervisor_version: str | None = None
    machine_type: str | None = None
    config_path: str | None = None
    runtime_handlers: list[str] = _json([])
    caa_version: str | None = None
    peerpod_count: int | None = None
    stale_sandboxes: int | None = None
    kata_pods: int | None = None
    kata_monitor_namespace: str | None = None
    reporter_source: str | None = None
    drift: list[str] = _json([])
    parse_problems: list[str] = _json([])
    labels: dict[str, str] = _json({})


class NodeChange(SQLModel, table=True):
    """One fact of one node that changed, with its old and new text."""

    __tablename__ = "node_change"
    __table_args__ = (sa.Index("ix_node_change_node_at", "node_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    node_id: int = Field(foreign_key="node.id")
    at: datetime = _ts(index=True)
    fact: str = Field(max_length=64)
    old: str | None = None
    new: str | None = None


class HealthCheck(SQLModel, table=True):
    """The current result of one check on one node. ``checked_at`` is when it last changed."""

    __tablename__ = "health_check"

    node_id: int = Field(foreign_key="node.id", primary_key=True)
    code: str = Field(primary_key=True, max_length=32)
    status: str = Field(max_length=8, index=True)
    value: float | None = None
    message: str = ""
    remediation: str | None = None
    since: datetime = _ts()
    checked_at: datetime = _ts()


class HealthTransition(SQLModel, table=True):
    """A check's status changed on a node (an edge, not a level)."""

    __tablename__ = "health_transition"
    __table_args__ = (sa.Index("ix_health_transition_node_at", "node_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    node_id: int = Field(foreign_key="node.id")
    code: str = Field(max_length=32)
    at: datetime = _ts(index=True)
    old_status: str | None = Field(default=None, max_length=8)
    new_status: str = Field(max_length=8)
    message: str = ""


class NodeEvent(SQLModel, table=True):
    """A Kubernetes Event about a node: on the Node itself, or a Warning on a pod it runs."""

    __tablename__ = "node_event"
    __table_args__ = (sa.UniqueConstraint("node_id", "uid", name="uq_node_event_node_uid"),)

    id: int | None = Field(default=None, primary_key=True)
    node_id: int = Field(foreign_key="node.id", index=True)
    uid: str = Field(max_length=64)
    at: datetime = _ts(index=True)  # lastTimestamp (or eventTime)
    type: str = Field(max_length=16)
    reason: str = Field(max_length=128)
    message: str = ""
    count: int = 1
    object: str = Field(default="", max_length=300)  # "Node" or "Pod ns/name"


class Release(SQLModel, table=True):
    """A Kata release in the catalog, with its pinned guest kernel and per-arch assets."""

    __tablename__ = "release"

    version: str = Field(primary_key=True, max_length=64)
    sort_key: str = Field(index=True, max_length=40)
    published_at: datetime | None = _ts(nullable=True)
    prerelease: bool = False
    guest_kernel: str | None = None
    hypervisors: dict[str, str] = _json({})
    arches: list[str] = _json([])
    assets: list[dict[str, Any]] = _json([])
    source: str = Field(default="bundled", max_length=16)
    synced_at: datetime = _ts()


class UpgradeRun(SQLModel, table=True):
    """One rollout of a target release, from plan to done."""

    __tablename__ = "upgrade_run"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=253)
    kind: str = Field(default="upgrade", max_length=16, sa_column_kwargs={"server_default": "upgrade"})
    parent_id: int | None = None  # a rollback run: the run it undoes
    target_version: str = Field(max_length=64)
    state: str = Field(max_length=16, index=True)
    plan: dict[str, Any] = _json({})
    created_at: datetime = _ts()
    started_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()
    holder: str | None = Field(default=None, max_length=253)
    lease_expires_at: datetime | None = _ts(nullable=True)
    message: str = ""


class Schedule(SQLModel, table=True):
    """A plan that ``fleetctl serve`` runs in a maintenance window, opening after opening."""

    __tablename__ = "schedule"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    plan: dict[str, Any] = _json({})  # the plan document as it was added
    window_schedule: str = Field(max_length=1024)  # cron, or an RRULE (with an optional DTSTART line)
    duration_s: float
    timezone: str = Field(max_length=64)
    exclude: list[list[str]] = _json([])  # [[first, last], ...] ISO dates, inclusive
    enabled: bool = True
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    last_opening: datetime | None = _ts(nullable=True)  # the opening the last run was started for
    last_run_id: int | None = None
    message: str = ""


class Wave(SQLModel, table=True):
    """One wave of a run: its nodes, its state and its gate result."""

    __tablename__ = "wave"
    __table_args__ = (sa.UniqueConstraint("run_id", "number", name="uq_wave_run_number"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="upgrade_run.id", index=True)
    number: int
    state: str = Field(max_length=16)
    size: int = 0
    started_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)
    gate_state: str | None = Field(default=None, max_length=16)
    gate_message: str = ""
    gate_results: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON(), nullable=False, server_default="[]")
    )


class NodeStep(SQLModel, table=True):
    """Where one node is in a run: claim, cordon, drain, install, verify, uncordon, done."""

    __tablename__ = "node_step"
    __table_args__ = (sa.UniqueConstraint("run_id", "node_id", name="uq_node_step_run_node"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="upgrade_run.id", index=True)
    wave_id: int = Field(foreign_key="wave.id", index=True)
    node_id: int = Field(foreign_key="node.id", index=True)
    step: str = Field(max_length=16)
    state: str = Field(max_length=16)
    from_version: str | None = Field(default=None, max_length=64)
    target_version: str | None = Field(default=None, max_length=64)
    position: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # rollout order within the run
    facts: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON(), nullable=False, server_default="{}")
    )  # what claim saw: handlers, guest kernel, cordoned
    attempts: int = 0
    cordoned_by_us: bool = False
    started_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()
    message: str = ""


class AuditEvent(SQLModel, table=True):
    """A change fleetctl made to a cluster: when, what, why and the result."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(index=True)
    actor: str = Field(max_length=253)
    cluster_id: int | None = Field(default=None, foreign_key="cluster.id")
    run_id: int | None = Field(default=None, foreign_key="upgrade_run.id", index=True)
    action: str = Field(max_length=64)
    target: str = Field(max_length=512)
    reason: str = ""
    result: str = Field(max_length=16)  # pending (sent, outcome unknown), ok or failed
    details: dict[str, Any] = _json({})
    op: str | None = Field(default=None, max_length=32, index=True)  # ties a pending row to its result


def now() -> datetime:
    """The current time, aware UTC, as the store wants it."""
    return datetime.now(UTC)
