"""``/metrics``: what the daemon did (counters it keeps) and what the store says now (read per scrape)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import col

from store.engine import Store
from store.models import Cluster, NodeStep, UpgradeRun, Wave
from store.states import ENDED_RUNS, WaveState


class Metrics:
    """The daemon's registry: its own counters, plus a collector reading the store."""

    def __init__(self, store: Store) -> None:
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


class _StoreCollector(Collector):
    """Rollout and freshness figures, read from the store at scrape time (any replica answers alike)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        nodes = GaugeMetricFamily(
            "fleetctl_upgrade_nodes", "Nodes of unfinished runs, by step state.", labels=["run", "state"]
        )
        wave = GaugeMetricFamily("fleetctl_upgrade_current_wave", "The wave an unfinished run is at.", labels=["run"])
        gates = GaugeMetricFamily(
            "fleetctl_upgrade_gate", "1 for each wave's gate result.", labels=["run", "wave", "result"]
        )
        age = GaugeMetricFamily("fleetctl_data_age_seconds", "Seconds since the last collection.", labels=["cluster"])
        now = datetime.now(UTC)
        with self.store.read_connection() as conn:
            open_runs = [
                r
                for (r,) in conn.execute(sa.select(col(UpgradeRun.id)).where(col(UpgradeRun.state).not_in(ENDED_RUNS)))
            ]
            if open_runs:
                counts = conn.execute(
                    sa.select(col(NodeStep.run_id), col(NodeStep.state), sa.func.count())
                    .where(col(NodeStep.run_id).in_(open_runs))
                    .group_by(col(NodeStep.run_id), col(NodeStep.state))
                )
                for run_id, state, n in counts:
                    nodes.add_metric([str(run_id), state], n)
                waves = conn.execute(
                    sa.select(col(Wave.run_id), col(Wave.number), col(Wave.state), col(Wave.gate_state))
                    .where(col(Wave.run_id).in_(open_runs))
                    .order_by(col(Wave.run_id), col(Wave.number))
                ).all()
                current: dict[int, int] = {}
                for run_id, number, state, gate in waves:
                    if state != WaveState.PENDING or run_id not in current:
                        current[run_id] = number if state != WaveState.PENDING else current.get(run_id, 0)
                    if gate:
                        gates.add_metric([str(run_id), str(number), gate], 1)
                for run_id, number in current.items():
                    wave.add_metric([str(run_id)], number)
            for name, at in conn.execute(sa.select(col(Cluster.name), col(Cluster.last_collected_at))):
                if at is not None:
                    age.add_metric([name], (now - at).total_seconds())
        yield from (nodes, wave, gates, age)
