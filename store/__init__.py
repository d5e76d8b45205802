"""The fleet's vocabulary and its persistence: value types, tables, migrations, repositories.

``store`` is the lowest layer. It imports no other package of fleetctl.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from store.arch import Arch, normalize_arch
    from store.checks import CheckResult, Status, worst
    from store.engine import DatabaseURL, Store, parse_database_url
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
    from store.locations import default_sqlite_path
    from store.migrate import current_revision, head_revision, open_store, upgrade
    from store.snapshots import SnapshotResult, ensure_cluster, record_snapshot
    from store.versions import KataVersion

# Every name resolves on first use: importing a light module such as ``store.errors`` loads no
# database code, which keeps ``fleetctl --version`` and ``--help`` fast.
_HOME: dict[str, str] = {
    "Arch": "store.arch",
    "normalize_arch": "store.arch",
    "CheckResult": "store.checks",
    "Status": "store.checks",
    "worst": "store.checks",
    "DatabaseURL": "store.engine",
    "Store": "store.engine",
    "default_sqlite_path": "store.locations",
    "parse_database_url": "store.engine",
    "ArchError": "store.errors",
    "BadInputError": "store.errors",
    "ConfigError": "store.errors",
    "DatabaseURLError": "store.errors",
    "FleetctlError": "store.errors",
    "KernelParseError": "store.errors",
    "OperationTimeoutError": "store.errors",
    "SchemaError": "store.errors",
    "StoreError": "store.errors",
    "StoreUnreachableError": "store.errors",
    "UnreachableError": "store.errors",
    "VersionParseError": "store.errors",
    "FactChange": "store.facts",
    "NodeFacts": "store.facts",
    "diff_facts": "store.facts",
    "GuestKernel": "store.kernels",
    "current_revision": "store.migrate",
    "head_revision": "store.migrate",
    "open_store": "store.migrate",
    "upgrade": "store.migrate",
    "SnapshotResult": "store.snapshots",
    "ensure_cluster": "store.snapshots",
    "record_snapshot": "store.snapshots",
    "KataVersion": "store.versions",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'store' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


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
