"""``/metrics``: what the daemon did (counters it keeps), how old the data is, and the fleet
(``fleetseries``: nodes, releases, checks and runs, read from the store once per collection interval)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import col

from fleetctl.serve.fleetseries import FleetCollector
from store.engine import Store
from store.models import Cluster


class Metrics:
    """The daemon's registry: its own counters, plus a collector reading the store."""

    def __init__(self, store: Store, *, per_node: bool = True, cache_s: float = 30.0) -> None:
        self.registry = CollectorRegistry()
        self.leader = Gauge("fleetctl_leader", "1 while this replica holds the leader Lease.", registry=self.registry)
        self.job_seconds = Histogram(
            "fleetctl_job_duration_seconds", "How long each scheduled job took.", ["job"],
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200), registry=self.registry,
        )  # fmt: skip
        self.job_errors = Counter(
            "fleetctl_job_errors_total", "Scheduled jobs that failed, by job.", ["job"], registry=self.registry
        )
        self.collection_seconds = Histogram(
            "fleetctl_collection_duration_seconds", "One collection of one cluster.", ["kind", "cluster"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry,
        )  # fmt: skip
        self.collection_errors = Counter(
            "fleetctl_collection_errors_total", "Collections that failed.", ["kind", "cluster"], registry=self.registry
        )
        self.registry.register(_StoreCollector(store))
        self.fleet = FleetCollector(store, per_node=per_node, cache_s=cache_s)

    def render(self) -> bytes:
        """The whole ``/metrics`` body: the daemon's own series, then the fleet's (formatted once
        per collection interval, so a scrape in between costs only the daemon's few series)."""
        return generate_latest(self.registry) + self.fleet.render()


class _StoreCollector(Collector):
    """How old each cluster's data is, read from the store at every scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        age = GaugeMetricFamily("fleetctl_data_age_seconds", "Seconds since the last collection.", labels=["cluster"])
        now = datetime.now(UTC)
        with self.store.read_connection() as conn:
            for name, at in conn.execute(sa.select(col(Cluster.name), col(Cluster.last_collected_at))):
                if at is not None:
                    age.add_metric([name], (now - at).total_seconds())
        yield age
