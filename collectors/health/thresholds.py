"""Health thresholds, with their defaults; the config file's ``[health]`` table overrides them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from store.errors import ConfigError


@dataclass(frozen=True)
class Thresholds:
    """When a check warns and when it is critical. docs/configuration.md documents each."""

    rpc_p99_warn_ms: float = 500.0
    rpc_p99_crit_ms: float = 1000.0
    scrape_failures_warn_per_min: float = 1.0
    scrape_failures_crit_per_min: float = 10.0
    hypervisor_threads_warn: float = 200.0
    hypervisor_fds_warn: float = 4096.0
    guest_mem_available_warn: float = 0.10  # fraction of guest memory still available
    guest_mem_available_crit: float = 0.05
    sandbox_failures_warn: int = 1  # FailedCreatePodSandBox events in the last hour
    sandbox_failures_crit: int = 10
    rate_window: str = "5m"  # PromQL range for rate()
    query_timeout_s: float = 10.0


def thresholds_from(table: dict[str, Any] | None, *, where: str) -> Thresholds:
    """Thresholds from the config file's ``[health]`` table; unknown keys and wrong types are errors."""
    if not table:
        return Thresholds()
    known = {f.name: f.type for f in fields(Thresholds)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"unknown field 'health.{key}'", where=where, hint=f"known: {', '.join(sorted(known))}")
        default = getattr(Thresholds(), key)
        if isinstance(default, str) != isinstance(value, str) or isinstance(value, bool):
            raise ConfigError(
                f"field 'health.{key}' has the wrong type", where=where, hint=f"write it like {key} = {default!r}"
            )
        values[key] = value
    return Thresholds(**values)
