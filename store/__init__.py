"""The fleet's vocabulary and its persistence: value types, tables, migrations, repositories.

``store`` is the lowest layer. It imports no other package of fleetctl.
"""

from __future__ import annotations

from store.arch import Arch, normalize_arch
from store.checks import CheckResult, Status, worst
from store.engine import DatabaseURL, Store, default_sqlite_path, parse_database_url
from store.errors import (
    ArchError,
    BadInputError,
    ConfigError,
    DatabaseURLError,
    FleetctlError,
    KernelParseError,
    OperationTimeoutError,
    SchemaError,
    StoreError,
    StoreUnreachableError,
    UnreachableError,
    VersionParseError,
)
from store.facts import FactChange, NodeFacts, diff_facts
from store.kernels import GuestKernel
from store.migrate import current_revision, head_revision, open_store, upgrade
from store.snapshots import SnapshotResult, ensure_cluster, record_snapshot
from store.versions import KataVersion

__all__ = [
    "Arch",
    "ArchError",
    "BadInputError",
    "CheckResult",
    "ConfigError",
    "DatabaseURL",
    "DatabaseURLError",
    "FactChange",
    "FleetctlError",
    "GuestKernel",
    "KataVersion",
    "KernelParseError",
    "NodeFacts",
    "OperationTimeoutError",
    "SchemaError",
    "SnapshotResult",
    "Status",
    "Store",
    "StoreError",
    "StoreUnreachableError",
    "UnreachableError",
    "VersionParseError",
    "current_revision",
    "default_sqlite_path",
    "diff_facts",
    "ensure_cluster",
    "head_revision",
    "normalize_arch",
    "open_store",
    "parse_database_url",
    "record_snapshot",
    "upgrade",
    "worst",
]
