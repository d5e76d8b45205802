"""The fleet as Prometheus series, read from the store (docs/monitoring.md lists every one).

Info series carry facts as labels with the value 1, in kube-state-metrics' style; state series
carry a number. ``read_fleet`` does the grouped reads; ``fleet_families`` is pure and turns
them into metric families; ``FleetCollector`` caches the families for one collection interval,
so scrapes between two collections cost nothing.

Labels are bounded: no pod names, no messages, no secrets. Drift is exported by kind, not by
its text, and ok checks only in the ``fleetctl_checks`` counts (a per-node series for each ok
check would triple the exposition of a healthy fleet and say nothing).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlmodel import Session, col, select

from collectors.inventory.resolve import drift_kind
from store.checks import Status
from store.engine import Store
from store.errors import VersionParseError
from store.models import Cluster, HealthCheck, Node, NodeState, NodeStep, Release, UpgradeRun, Wave
from store.runs import shown_state
from store.states import ENDED_RUNS, GateState, Step, StepState
from store.versions import KataVersion
from upgrades.rundoc import RunPlan

UNKNOWN = "unknown"
STATUS_VALUE = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARN: 2, Status.CRIT: 3}  # worse is higher
GATE_VALUE = {GateState.RUNNING: 0, GateState.PASSED: 1, GateState.FAILED: 2, GateState.INCONCLUSIVE: 3,
              GateState.STOPPED: 4}  # fmt: skip
_STATUSES = {s.value for s in Status}
_GATE_STATES = {g.value for g in GateState}
ENDED_RUN_SHOWN_FOR = timedelta(hours=24)
RUNTIME_RS_SUFFIX = "-runtime-rs"


@dataclass(frozen=True)
class NodeSeries:
    """One present node's facts, as the series need them."""

    cluster: str
    node: str
    arch: str | None
    zone: str | None
    kata_release: str | None
    guest_kernel: str | None
    hypervisor: str | None
    host_kernel: str | None
    handlers: tuple[str, ...]
    custom_kernel: bool | None
    drift: tuple[str, ...]
    stale_sandboxes: int | None = None


@dataclass(frozen=True)
class RunRow:
    """A run that is not ended, ended within a day, or still holds a node cordoned, with its counts."""

    run: int
    plan: str
    target: str
    kind: str
    state: str
    budget: int
    wave: int
    steps: Counter[str] = field(default_factory=Counter)
    cordoned: int = 0
    gates: tuple[tuple[int, str, str], ...] = ()  # (wave, check, state)
    wave_gates: tuple[tuple[int, str], ...] = ()  # (wave, the wave's verdict)
    nodes: tuple[tuple[str, str, str, str], ...] = ()  # (cluster, node, step, state), for runs not ended


@dataclass
class FleetData:
    """Everything one scrape exports, read in one short read transaction."""

    releases: list[str]  # the catalog's releases (no pre-releases)
    release_nodes: Counter[tuple[str, str, str]]  # (cluster, release, arch) -> nodes
    drifted: Counter[str]  # cluster -> nodes with drift
    checks: Counter[tuple[str, str, str]]  # (cluster, code, status) -> nodes
    collected: dict[str, datetime]  # cluster -> last collection
    nodes: list[NodeSeries] = field(default_factory=list)  # only with per-node series
    bad_checks: list[tuple[str, str, str, str]] = field(default_factory=list)  # (cluster, node, code, status)
    runs: list[RunRow] = field(default_factory=list)


def read_fleet(store: Store, *, per_node: bool, now: datetime) -> FleetData:
    """The store's state for the series: grouped counts always, per-node rows when asked."""
    present = col(Node.gone_at).is_(None)
    with store.read_connection() as conn:
        clusters = {i: n for i, n in conn.execute(sa.select(col(Cluster.id), col(Cluster.name))) if i is not None}
        collected = {
            name: at for name, at in conn.execute(sa.select(col(Cluster.name), col(Cluster.last_collected_at))) if at
        }
        release_nodes: Counter[tuple[str, str, str]] = Counter()
        drifted: Counter[str] = Counter()
        has_drift = (sa.cast(col(NodeState.drift), sa.String) != "[]").label("has_drift")
        counts = conn.execute(
            sa.select(
                col(Node.cluster_id), col(NodeState.kata_version), col(NodeState.arch), has_drift, sa.func.count()
            )
            .join(NodeState, col(NodeState.node_id) == col(Node.id))
            .where(present)
            .group_by(col(Node.cluster_id), col(NodeState.kata_version), col(NodeState.arch), has_drift)
        )
        for cluster_id, release, arch, any_drift, n in counts:
            cluster = clusters[cluster_id]
            release_nodes[(cluster, release or UNKNOWN, arch or UNKNOWN)] += n
            if any_drift:
                drifted[cluster] += n
        checks = check_counts(conn, clusters)
        releases = [
            r for (r,) in conn.execute(sa.select(col(Release.version)).where(col(Release.prerelease).is_(False)))
        ]
        data = FleetData(releases, release_nodes, drifted, checks, collected)
        if per_node:
            data.nodes = [_node_row(clusters[row[0]], *row[1:]) for row in conn.execute(_node_rows(present))]
            data.bad_checks = [
                (clusters[cluster_id], node, code, status)
                for cluster_id, node, code, status in conn.execute(
                    sa.select(col(Node.cluster_id), col(Node.name), col(HealthCheck.code), col(HealthCheck.status))
                    .join(Node, col(Node.id) == col(HealthCheck.node_id))
                    .where(present, col(HealthCheck.status) != Status.OK)
                )
            ]
        data.runs = _read_runs(conn, clusters, per_node=per_node, now=now)
    return data


def check_counts(conn: sa.Connection, clusters: dict[int, str]) -> Counter[tuple[str, str, str]]:
    """Present nodes per (cluster, code, status), without sorting every check row.

    A GROUP BY over every check (ten per node) was most of a cold scrape's cost on SQLite.
    Instead: the checks that are not ok are few, and come through the status index; ok is
    the rest of each (cluster, code)'s checks, which ``_check_totals`` counts without a sort.
    """
    out: Counter[tuple[str, str, str]] = Counter()
    bad: Counter[tuple[str, str]] = Counter()
    for cluster_id, code, status, n in conn.execute(_not_ok_counts()):
        if cluster_id is not None:  # None: a gone node's check
            out[(clusters[cluster_id], code, status)] += n
            bad[(clusters[cluster_id], code)] += n
    for (cluster, code), n in _check_totals(conn, clusters).items():
        if n > bad[(cluster, code)]:
            out[(cluster, code, Status.OK.value)] = n - bad[(cluster, code)]
    return out


def _check_totals(conn: sa.Connection, clusters: dict[int, str]) -> Counter[tuple[str, str]]:
    """Present nodes per (cluster, code) that have that check, in any status.

    A code is unique per node, so a node has at most as many checks as there are codes, and
    exactly that many only if it has every code. When the present nodes' checks add up to
    codes x nodes, every node has every code (the usual case: three cheap counts). Otherwise
    nodes are counted by how many checks they have, and only those short of some are read per code.
    """
    present = col(Node.gone_at).is_(None)
    codes = [code for (code,) in conn.execute(sa.select(col(HealthCheck.code)).distinct())]
    per_cluster = sa.select(col(Node.cluster_id), sa.func.count()).where(present).group_by(col(Node.cluster_id))
    nodes: dict[int, int] = dict(conn.execute(per_cluster).all())
    gone = sa.select(col(Node.id)).where(col(Node.gone_at).is_not(None))
    rows = conn.execute(sa.select(sa.func.count()).select_from(HealthCheck)).scalar_one()
    rows -= conn.execute(sa.select(sa.func.count()).where(col(HealthCheck.node_id).in_(gone))).scalar_one()
    totals: Counter[tuple[str, str]] = Counter()
    if rows == len(codes) * sum(nodes.values()):
        for cluster_id, n in nodes.items():
            totals.update({(clusters[cluster_id], code): n for code in codes})
        return totals
    checks = (
        sa.select(sa.func.count()).where(col(HealthCheck.node_id) == col(Node.id)).scalar_subquery().label("checks")
    )  # per node, through the primary key's index
    for cluster_id, k, n in conn.execute(
        sa.select(col(Node.cluster_id), checks, sa.func.count()).where(present).group_by(col(Node.cluster_id), checks)
    ):
        if k == len(codes):
            totals.update({(clusters[cluster_id], code): n for code in codes})
    few = sa.select(col(HealthCheck.node_id)).group_by(col(HealthCheck.node_id)).having(sa.func.count() < len(codes))
    for cluster_id, code, n in conn.execute(
        sa.select(col(Node.cluster_id), col(HealthCheck.code), sa.func.count())
        .join(Node, col(Node.id) == col(HealthCheck.node_id))
        .where(present, col(HealthCheck.node_id).in_(few))
        .group_by(col(Node.cluster_id), col(HealthCheck.code))
    ):
        totals[(clusters[cluster_id], code)] += n
    return totals


def _not_ok_counts() -> sa.Select[*tuple[Any, ...]]:
    """(cluster id or None for a gone node, code, status, checks) of the checks that are not ok.
    The cluster is a correlated lookup, so that the read starts from the status index."""
    cluster = (
        sa.select(col(Node.cluster_id))
        .where(col(Node.id) == col(HealthCheck.node_id), col(Node.gone_at).is_(None))
        .scalar_subquery()
        .label("cluster_id")
    )
    not_ok = sa.or_(col(HealthCheck.status) < Status.OK.value, col(HealthCheck.status) > Status.OK.value)
    return (
        sa.select(cluster, col(HealthCheck.code), col(HealthCheck.status), sa.func.count())
        .where(not_ok)  # two ranges of the status index, where != would scan the table
        .group_by(cluster, col(HealthCheck.code), col(HealthCheck.status))
    )


def _node_rows(present: sa.ColumnElement[bool]) -> sa.Select[*tuple[Any, ...]]:
    return (
        sa.select(
            col(Node.cluster_id),
            col(Node.name),
            col(NodeState.arch),
            col(NodeState.zone),
            col(NodeState.kata_version),
            col(NodeState.guest_kernel),
            col(NodeState.hypervisor),
            col(NodeState.host_kernel),
            col(NodeState.runtime_handlers),
            col(NodeState.custom_kernel),
            col(NodeState.drift),
            col(NodeState.stale_sandboxes),
        )
        .join(NodeState, col(NodeState.node_id) == col(Node.id))
        .where(present)
    )


def _node_row(cluster: str, *values: object) -> NodeSeries:
    name, arch, zone, release, kernel, hypervisor, host_kernel, handlers, custom, drift, stale = values
    return NodeSeries(
        cluster, str(name), _text(arch), _text(zone), _text(release), _text(kernel), _text(hypervisor),
        _text(host_kernel), tuple(str(h) for h in _list(handlers)), custom if isinstance(custom, bool) else None,
        tuple(str(d) for d in _list(drift)), stale if isinstance(stale, int) else None,
    )  # fmt: skip


def _text(value: object) -> str | None:
    return str(value) if value else None


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _read_runs(conn: sa.Connection, clusters: dict[int, str], *, per_node: bool, now: datetime) -> list[RunRow]:
    since = now - ENDED_RUN_SHOWN_FOR
    session = Session(conn)  # the same read transaction, for the two tables read whole
    held = cordons_held(conn.execute(_cordoned_rows()))
    shown = sa.or_(
        col(UpgradeRun.state).not_in(ENDED_RUNS), col(UpgradeRun.finished_at) >= since, col(UpgradeRun.id).in_(held)
    )  # an ended run stays while it holds a node cordoned
    runs = list(session.exec(select(UpgradeRun).where(shown)))
    if not runs:
        return []
    ids = [r.id for r in runs]
    steps: dict[int, Counter[str]] = {i: Counter() for i in ids if i is not None}
    nodes: dict[int, list[tuple[str, str, str, str]]] = {i: [] for i in steps}
    open_ids = [r.id for r in runs if r.state not in ENDED_RUNS]
    for run_id, state, n in conn.execute(
        sa.select(col(NodeStep.run_id), col(NodeStep.state), sa.func.count())
        .where(col(NodeStep.run_id).in_(ids))
        .group_by(col(NodeStep.run_id), col(NodeStep.state))
    ):
        steps[run_id][state] += n
    if per_node and open_ids:  # one row per node only for the per-node series
        for run_id, step, state, cluster_id, node in conn.execute(
            sa.select(
                col(NodeStep.run_id), col(NodeStep.step), col(NodeStep.state), col(Node.cluster_id), col(Node.name)
            )
            .join(Node, col(Node.id) == col(NodeStep.node_id))
            .where(col(NodeStep.run_id).in_(open_ids))
        ):
            nodes[run_id].append((clusters[cluster_id], node, step, state))
    waves: dict[int, list[Wave]] = {i: [] for i in steps}
    for wave in session.exec(select(Wave).where(col(Wave.run_id).in_(ids)).order_by(col(Wave.number))):
        waves[wave.run_id].append(wave)
    out = []
    for run in runs:
        assert run.id is not None
        started = [w.number for w in waves[run.id] if w.started_at is not None]
        out.append(
            RunRow(
                run=run.id, plan=run.name, target=run.target_version, kind=run.kind, state=shown_state(run, now),
                budget=RunPlan.parse(run.plan).run_budget, wave=max(started, default=0), steps=steps[run.id],
                cordoned=held[run.id],
                gates=tuple((w.number, str(g.get("name")), str(g.get("state"))) for w in waves[run.id]
                            for g in w.gate_results if isinstance(g, dict) and g.get("name")),
                wave_gates=tuple((w.number, w.gate_state) for w in waves[run.id] if w.gate_state),
                nodes=tuple(nodes[run.id]),
            )
        )  # fmt: skip
    return out


def _cordoned_rows() -> sa.Select[*tuple[Any, ...]]:
    """(run, node, step) of every run's node that the run cordoned and that is unschedulable
    at the last collection (a present node)."""
    return (
        sa.select(col(NodeStep.run_id), col(NodeStep.node_id), col(NodeStep.step))
        .join(NodeState, col(NodeState.node_id) == col(NodeStep.node_id))
        .join(Node, col(Node.id) == col(NodeStep.node_id))
        .where(
            col(NodeStep.cordoned_by_us).is_(True), col(NodeState.unschedulable).is_(True), col(Node.gone_at).is_(None)
        )
    )


def cordons_held(rows: Iterable[Sequence[Any]]) -> Counter[int]:
    """Nodes each run holds cordoned now, from ``(run, node, step)`` rows of nodes the run cordoned
    (``cordoned_by_us``) that are unschedulable now. A node's cordon is the newest such run's,
    unless that run's node is done: then its uncordon ended, and the cordon is someone else's."""
    newest: dict[int, tuple[int, str]] = {}
    for run, node, step in rows:
        if node not in newest or run > newest[node][0]:
            newest[node] = (run, step)
    return Counter(run for run, step in newest.values() if step != Step.DONE)


def fleet_families(data: FleetData) -> list[Metric]:
    """The series for one scrape (pure: the same data gives the same exposition)."""
    out: list[Metric] = []
    if data.nodes:
        out += _node_families(data.nodes, data.bad_checks)
    out += _aggregate_families(data)
    out += _run_families(data.runs)
    return out


def _node_families(nodes: list[NodeSeries], bad_checks: list[tuple[str, str, str, str]]) -> list[Metric]:
    info = GaugeMetricFamily(
        "fleetctl_node_info", "A node's Kata release, guest kernel, hypervisor and host kernel (1 per present node).",
        labels=["cluster", "node", "arch", "zone", "kata_release", "guest_kernel", "hypervisor", "host_kernel",
                "runtime_rs"],
    )  # fmt: skip
    drift = GaugeMetricFamily(
        "fleetctl_node_drift", "1 for each kind of drift on a node.", labels=["cluster", "node", "reason"]
    )
    custom = GaugeMetricFamily(
        "fleetctl_node_custom_kernel",
        "1 when a node's guest kernel is not its release's pin.",
        labels=["cluster", "node"],
    )
    status = GaugeMetricFamily(
        "fleetctl_node_check_status",
        "A node's check that is not ok: 1 unknown, 2 warn, 3 crit (ok checks are counted in fleetctl_checks).",
        labels=["cluster", "node", "code", "severity"],
    )
    stale = GaugeMetricFamily(
        "fleetctl_node_stale_sandboxes",
        "A node's Running Kata pods that started before its last install (absent when unknown).",
        labels=["cluster", "node"],
    )
    for n in nodes:
        info.add_metric(
            [n.cluster, n.node, n.arch or UNKNOWN, n.zone or UNKNOWN, n.kata_release or UNKNOWN,
             n.guest_kernel or UNKNOWN, n.hypervisor or UNKNOWN, n.host_kernel or UNKNOWN, runtime_rs(n.handlers)],
            1,
        )  # fmt: skip
        for kind in sorted({drift_kind(d) for d in n.drift}):
            drift.add_metric([n.cluster, n.node, kind], 1)
        if n.custom_kernel is not None:
            custom.add_metric([n.cluster, n.node], int(n.custom_kernel))
        if n.stale_sandboxes is not None:
            stale.add_metric([n.cluster, n.node], n.stale_sandboxes)
    for cluster, node, code, state in bad_checks:
        known = state if state in _STATUSES else UNKNOWN
        status.add_metric([cluster, node, code, known], STATUS_VALUE[Status(known)])
    return [info, drift, custom, status, stale]


def runtime_rs(handlers: Iterable[str]) -> str:
    """``true`` with a runtime-rs handler, ``false`` with only Go-shim ones, ``unknown`` with none."""
    known = list(handlers)
    if not known:
        return UNKNOWN
    return "true" if any(h.endswith(RUNTIME_RS_SUFFIX) for h in known) else "false"


def _aggregate_families(data: FleetData) -> list[Metric]:
    releases = GaugeMetricFamily(
        "fleetctl_release_nodes", "Nodes per Kata release and arch.", labels=["cluster", "release", "arch"]
    )
    behind = GaugeMetricFamily(
        "fleetctl_release_behind_latest",
        "Catalog releases newer than the oldest release a node of the cluster runs (0: all on the newest).",
        labels=["cluster"],
    )
    drifted = GaugeMetricFamily("fleetctl_nodes_drifted", "Nodes with any drift.", labels=["cluster"])
    checks = GaugeMetricFamily(
        "fleetctl_checks", "Nodes with that check in that status.", labels=["cluster", "code", "severity"]
    )
    last = GaugeMetricFamily(
        "fleetctl_collection_last_success_timestamp_seconds",
        "When the cluster was last collected (Unix seconds).",
        labels=["cluster"],
    )
    known = sorted(_versions(data.releases))
    oldest: dict[str, KataVersion] = {}
    for (cluster, release, arch), n in sorted(data.release_nodes.items()):
        releases.add_metric([cluster, release, arch], n)
        version = next(iter(_versions([release])), None)
        if version is not None and (cluster not in oldest or version < oldest[cluster]):
            oldest[cluster] = version
    for cluster in sorted({c for c, _, _ in data.release_nodes}):
        drifted.add_metric([cluster], data.drifted.get(cluster, 0))
        if cluster in oldest and known:
            behind.add_metric([cluster], sum(1 for r in known if r > oldest[cluster]))
    for (cluster, code, state), n in sorted(data.checks.items()):
        checks.add_metric([cluster, code, state], n)
    for cluster, at in sorted(data.collected.items()):
        last.add_metric([cluster], at.replace(tzinfo=at.tzinfo or UTC).timestamp())
    return [releases, behind, drifted, checks, last]


def _versions(texts: Iterable[str]) -> list[KataVersion]:
    out = []
    for text in texts:
        try:
            out.append(KataVersion.parse(text))
        except VersionParseError:
            continue
    return out


def _run_families(runs: list[RunRow]) -> list[Metric]:
    info = GaugeMetricFamily(
        "fleetctl_upgrade_run_info", "1 per run that is not ended, ended within a day, or holds a node cordoned.",
        labels=["run", "plan", "target", "kind", "state"],
    )  # fmt: skip
    nodes = GaugeMetricFamily("fleetctl_upgrade_nodes", "A run's nodes by step state.", labels=["run", "state"])
    wave = GaugeMetricFamily("fleetctl_upgrade_current_wave", "The wave a run is at.", labels=["run"])
    gate = GaugeMetricFamily(
        "fleetctl_upgrade_gate", "1 per wave gate result (the wave's verdict).", labels=["run", "wave", "result"]
    )
    gate_result = GaugeMetricFamily(
        "fleetctl_upgrade_gate_result",
        "Each gate check: 0 running, 1 passed, 2 failed, 3 inconclusive, 4 stopped.",
        labels=["run", "wave", "gate"],
    )
    failures = CounterMetricFamily("fleetctl_upgrade_failures", "Nodes that failed in a run.", labels=["run"])
    budget = GaugeMetricFamily("fleetctl_upgrade_failure_budget", "A run's failure budget (nodes).", labels=["run"])
    cordoned = GaugeMetricFamily(
        "fleetctl_upgrade_cordoned_nodes",
        "Nodes a run cordoned that are unschedulable at the last collection.",
        labels=["run"],
    )
    node_state = GaugeMetricFamily(
        "fleetctl_upgrade_node_state", "1 per node of a run that is not ended: its step and step state.",
        labels=["run", "cluster", "node", "step", "state"],
    )  # fmt: skip
    for r in runs:
        run = str(r.run)
        info.add_metric([run, r.plan, r.target, r.kind, r.state], 1)
        for step_state in StepState:
            nodes.add_metric([run, step_state], r.steps.get(step_state, 0))
        wave.add_metric([run], r.wave)
        for number, result in r.wave_gates:
            gate.add_metric([run, str(number), result], 1)
        for number, check, verdict in r.gates:
            value = GATE_VALUE[GateState(verdict)] if verdict in _GATE_STATES else GATE_VALUE[GateState.RUNNING]
            gate_result.add_metric([run, str(number), check], value)
        failures.add_metric([run], r.steps.get(StepState.FAILED, 0))
        budget.add_metric([run], r.budget)
        cordoned.add_metric([run], r.cordoned)
        for cluster, node, step, at in r.nodes:
            node_state.add_metric([run, cluster, node, step, at], 1)
    return [info, nodes, wave, gate, gate_result, failures, budget, cordoned, node_state]


class FleetCollector(Collector):
    """The fleet series, read from the store at most once per ``cache_s`` (the collection
    interval: the store does not change faster than that); every replica answers alike."""

    def __init__(
        self,
        store: Store,
        *,
        per_node: bool,
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.per_node, self.cache_s, self.clock = store, per_node, cache_s, clock
        self.reads = 0
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric], bytes] | None = None
        interval = GaugeMetricFamily(
            "fleetctl_collection_interval_seconds", "The configured collection interval (for staleness rules)."
        )
        interval.add_metric([], cache_s)
        self._interval = interval

    def clear_cache(self) -> None:
        """Forget the cached series: the next scrape reads the store (benchmarks, tests)."""
        with self._lock:
            self._cached = None

    def collect(self) -> Iterator[Metric]:
        yield self._interval
        yield from self._fresh()[1]

    def render(self) -> bytes:
        """The series in Prometheus' text format, formatted once per read of the store."""
        return self._fresh()[2]

    def _fresh(self) -> tuple[float, list[Metric], bytes]:
        with self._lock:
            now = self.clock()
            if self._cached is None or now - self._cached[0] >= self.cache_s:
                families = fleet_families(read_fleet(self.store, per_node=self.per_node, now=datetime.now(UTC)))
                self.reads += 1
                self._cached = (now, families, generate_latest(_Fixed([self._interval, *families])))
            return self._cached


class _Fixed(Collector):
    """A registry's worth of families that are already made (for formatting them once)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families
