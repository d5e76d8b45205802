"""Resolved settings for one command: flag, then environment, then config file, then default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetctl.config import FileConfig

if TYPE_CHECKING:
    from clients.prom import PromConfig
    from collectors.inventory.pods import PodSelectors


@dataclass(frozen=True)
class Settings:
    """The global options after resolution. ``db`` None means the default SQLite file."""

    db: str | None
    kubeconfig: Path
    context: str | None
    output: str
    config_path: Path | None
    prometheus: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    collect_interval: str = "30s"
    collect_parallel: int = 8  # clusters collected at once (collect --all-contexts, serve)
    metrics_per_node: bool = True  # [metrics] per_node: serve exports per-node fleet series
    selectors: dict[str, Any] = field(default_factory=dict)  # [selectors]: the pods the collector reads

    def pod_selectors(self) -> PodSelectors:
        """The collector's pod selectors: ``[selectors]`` over the defaults."""
        from collectors.inventory.pods import PodSelectors

        chosen = dict(self.selectors)
        if "kata_monitor" in chosen:
            chosen["kata_monitor"] = tuple(chosen["kata_monitor"])
        return PodSelectors(**chosen)

    def prom_config(self, url: str | None = None, cluster: str | None = None) -> PromConfig | None:
        """Prometheus settings (``clients.prom.resolve_prom``, the one resolution): ``url`` (a
        ``--prometheus`` flag) over every URL of ``[prometheus]``; for a ``cluster`` (context), its
        ``[prometheus.contexts.<name>]`` over the top level, with its ``cluster_label`` matcher.
        None when no URL applies."""
        from clients.prom import resolve_prom

        return resolve_prom(self.prometheus, url=url, cluster=cluster)


def resolve_settings(
    file: FileConfig,
    *,
    db: str | None,
    kubeconfig: str | None,
    context: str | None,
    output: str | None,
) -> Settings:
    """Combine flags (``db`` already includes ``$FLEETCTL_DB``) with the file and defaults."""
    kube = kubeconfig or _first_kubeconfig_env() or file.kubeconfig or str(Path.home() / ".kube" / "config")
    return Settings(
        db=db or file.db,
        kubeconfig=Path(kube).expanduser(),
        context=context or file.context,
        output=output or file.output or "table",
        config_path=file.path,
        collect_interval=file.collect_interval or "30s",
        collect_parallel=file.collect_parallel or 8,
        prometheus=dict(file.prometheus),
        health=dict(file.health),
        metrics_per_node=bool(file.metrics.get("per_node", True)),
        selectors=dict(file.selectors),
    )


def _first_kubeconfig_env() -> str | None:
    # Like kubectl, KUBECONFIG may list several files; the first one is used for writes.
    value = os.environ.get("KUBECONFIG", "")
    first = value.split(os.pathsep)[0] if value else ""
    return first or None
