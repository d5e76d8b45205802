"""The query language as SQLAlchemy conditions, for the reads that build SQLAlchemy statements.

The SQL is ``store.query.sql``'s (one compiler for every read): here it is wrapped in ``sa.text`` with
its parameters bound, to filter ``nodes_select()`` and the selects built on it. Table names are the
models' own, so the text's ``node``, ``node_state`` and ``cluster`` are the statement's tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from store.models import Cluster, Node, NodeState
from store.query.sql import Sql, compile_sql

Cond = ColumnElement[bool]


def compile_query(text: str, *, dialect: str, now: datetime) -> Any:
    """Parse and compile ``text`` to a condition; raises ``QuerySyntaxError`` on bad input."""
    sql = Sql(dialect)
    return sa.text(compile_sql(text, sql, now=now)).bindparams(**sql.params)


def in_cluster(name: str | None) -> tuple[Cond, ...]:
    """The condition that keeps one cluster's nodes (``--context``); none for every cluster."""
    return () if name is None else (col(Cluster.name) == name,)


def nodes_select() -> sa.Select[Node, NodeState, Cluster]:
    """The base select every query filters: present nodes with their state and cluster."""
    return (
        sa.select(Node, NodeState, Cluster)
        .join(NodeState, col(NodeState.node_id) == col(Node.id))
        .join(Cluster, col(Cluster.id) == col(Node.cluster_id))
        .where(col(Node.gone_at).is_(None))
    )
