"""Run a plan on a simulated copy of the fleet: the plan apply would make, executed by the real
executor against simulators built from the store (and the live workloads), time-scaled.

Nothing here writes to a real cluster or to the real store: the copies are read with GETs and
LISTs, and the run lives in a scratch SQLite store that is removed afterwards.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from clients.kube.client import KubeClient
from clients.prom import PromConfig, PromSource
from collectors.inventory.collector import RetryPolicy, collect_cluster
from collectors.releases.catalog import kernel_pins
from fleetctl.rehearsal.fleetcopy import copy_fleet
from fleetctl.rehearsal.scaling import scaled_document
from fleetctl.rehearsal.workloads import copy_workloads
from fleetctl.services import check_clusters, execute_run, make_executor_options, needs_prometheus, open_clients
from simulator import (
    RUN_SECONDS_ANNOTATION,
    Faults,
    FleetSpec,
    HealthRegression,
    InstallMode,
    NodeSpec,
    ServerOptions,
    Simulator,
    Workloads,
    prometheus_binary,
    prometheus_server,
)  # fmt: skip
from store.engine import Store
from store.errors import BadInputError, PlanRefusedError, RefusedError, UnreachableError
from store.migrate import open_store
from store.models import AuditEvent, Cluster
from store.runs import DraftNode, RunView, create_run, read_run
from store.states import RunState, StepState
from upgrades.deployment import Deployment
from upgrades.launch import plan_from_store, run_document
from upgrades.planfile import Mechanism, PlanSpec
from upgrades.planner import Plan
from upgrades.rundoc import gates_need_prometheus

DATA_WAIT_S = 60.0  # how long to wait for Prometheus to have two scrapes of the rehearsed nodes


@dataclass
class RehearsalOptions:
    """How to rehearse."""

    time_scale: float = 20.0
    build_seconds: float = 1800.0  # a build pod's typical run time (what a copied one has left is estimated from it)
    regressions: tuple[str, ...] = ()  # arches on which the target release misbehaves in the rehearsal
    gates: bool = True  # run the plan's gates against a Prometheus scraping the simulators (when installed)
    workloads: bool = True  # copy pods and PDBs from the live clusters
    progress: Callable[[str], None] = lambda _message: None


@dataclass
class ClusterCopy:
    """What was copied of one cluster."""

    cluster: str
    nodes: int
    pods: int = 0
    builds: int = 0
    recreated: int = 0
    pdbs: int = 0
    workloads: str = "copied"  # or why not
    approximated: dict[str, str] = field(default_factory=dict)


@dataclass
class NodeResult:
    """One node in the rehearsal; seconds are predicted (simulated) seconds."""

    cluster: str
    name: str
    wave: int
    state: str
    message: str
    seconds: float | None
    drain_seconds: float | None
    refused: int
    refused_by: list[str]  # PDBs that refused its evictions
    builds_evicted: int
    waited_for_builds: float | None


@dataclass
class WaveResult:
    """One wave in the rehearsal."""

    number: int
    size: int
    state: str
    seconds: float | None
    slowest: str | None
    gate_state: str | None
    gate_message: str


@dataclass
class Rehearsal:
    """The outcome: the plan, how the run ended, and per wave and node what happened."""

    plan: Plan
    state: str
    message: str
    seconds: float
    time_scale: float
    waves: list[WaveResult]
    nodes: list[NodeResult]
    copies: list[ClusterCopy]
    gates: str

    @property
    def completes(self) -> bool:
        """The run would finish with every node upgraded."""
        return self.state == RunState.DONE and all(n.state == StepState.DONE for n in self.nodes)


def rehearse(
    store: Store, spec: PlanSpec, clients: Mapping[str, KubeClient], options: RehearsalOptions
) -> Rehearsal | Plan:
    """Rehearse ``spec`` over the store's fleet; the bare plan when apply would refuse it."""
    plan = plan_from_store(store, spec)
    found = _preflight(store, spec, plan, clients, options.progress)
    if plan.refusals:
        return plan
    if not plan.nodes:
        raise BadInputError(
            "the plan selects no node to upgrade", where="spec.selector", hint="see fleetctl upgrade plan FILE"
        )
    if options.time_scale <= 0:
        raise BadInputError("the time scale must be above 0", where="--time-scale", hint="e.g. --time-scale 20")
    work = Path(tempfile.mkdtemp(prefix="fleetctl-rehearsal-"))
    try:
        with ExitStack() as stack:
            return _rehearse(stack, work, store, plan, clients, found, options)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _rehearse(
    stack: ExitStack,
    work: Path,
    store: Store,
    plan: Plan,
    clients: Mapping[str, KubeClient],
    found: Found,
    options: RehearsalOptions,
) -> Rehearsal:
    spec, say = plan.spec, options.progress
    clusters = sorted({c.cluster for c in plan.nodes})
    faults = Faults(healthRegressions=[HealthRegression(release=spec.target, arch=a) for a in options.regressions])
    copies, sims, originals = [], {}, {}
    for index, cluster in enumerate(clusters):
        copy, fleet = _copy(store, spec, cluster, clients.get(cluster), options)
        workloads = fleet.workloads
        copies.append(copy)
        for pod in workloads.pods if workloads else []:
            originals[(cluster, pod["metadata"]["namespace"], pod["metadata"]["name"])] = pod
        say(f"starting a simulated copy of {cluster}: {copy.nodes} nodes, {copy.pods} pods, {copy.pdbs} PDBs")
        _keep_builds_coming(fleet.nodes, workloads)
        mode = _install_mode(spec, cluster, found, say)
        sim_options = ServerOptions(
            fleet=fleet, time_scale=options.time_scale, cluster_name=cluster, out_dir=work / "sims" / str(index), targets_out=work / "targets" / f"{index}.json",
            churn=True, bookmark_seconds=0.5, faults=faults, install_mode=mode, install_label=spec.install.label,
        )  # fmt: skip
        sims[cluster] = stack.enter_context(Simulator(sim_options))
    scratch = stack.enter_context(open_store(f"sqlite:///{work / 'rehearsal.db'}"))
    pins = kernel_pins(store)
    sim_clients = {c: open_clients(s.kubeconfig)[0] for c, s in sims.items()}
    for client in sim_clients.values():
        result = collect_cluster(client, scratch, pins, retry=RetryPolicy(base=0.05))
        if result.error:
            raise UnreachableError(f"the rehearsal simulator did not answer: {result.error}", where="rehearsal")
    prometheus, gates = _prometheus(stack, work, plan, options)
    run_id = _create_run(scratch, plan, options.time_scale, gates=prometheus is not None)
    run_options = make_executor_options(
        PromConfig(url=prometheus) if prometheus else None, need_prometheus=needs_prometheus(scratch, run_id),
        poll_s=max(0.05, 1.0 / options.time_scale), lease_ttl=timedelta(seconds=10), pins=pins,
        actor="fleetctl-rehearsal", progress=lambda message: say("rehearsal: " + message),
    )  # fmt: skip
    say(f"rehearsing {len(plan.nodes)} nodes in {len(plan.waves)} waves at x{options.time_scale:g}...")
    began = time.monotonic()
    state = execute_run(scratch, None, run_id, run_options, sim_clients)  # the composition root's
    elapsed = time.monotonic() - began
    view = read_run(scratch, run_id)
    nodes = _node_results(scratch, view, options.time_scale, sims, originals)
    return Rehearsal(
        plan=plan, state=state, message=view.run.message, seconds=elapsed * options.time_scale,
        time_scale=options.time_scale, waves=_wave_results(view, options.time_scale), nodes=nodes,
        copies=copies, gates=gates,
    )  # fmt: skip


@dataclass
class Found:
    """How each live cluster installs, as the pre-flight checks read it; why it could not be read."""

    deployments: dict[str, Deployment] = field(default_factory=dict)
    unread: str = ""


def _preflight(
    store: Store, spec: PlanSpec, plan: Plan, clients: Mapping[str, KubeClient], say: Callable[[str], None]
) -> Found:
    """The pre-flight checks apply runs, on the live clusters the plan touches: a refusal joins the
    plan's refusals (rehearse then rehearses nothing, as apply would start nothing), warnings are
    said. Each cluster's deployment is read here, once, for its copy to install the same way."""
    live = {c: clients[c] for c in {n.cluster for n in plan.nodes} if c in clients}
    if not live:
        return Found()
    try:
        found, findings = check_clusters(store, live, spec, plan)
    except PlanRefusedError as exc:  # a deployment apply would refuse refuses here too
        plan.refusals.append(exc.message)
        return Found()
    except (UnreachableError, RefusedError) as exc:
        say(f"pre-flight checks not run: {exc.message}")
        return Found(unread=exc.message)
    for finding in findings:
        say(f"pre-flight {finding.line()}")
    return Found(found)


MODE_OF = {
    Mechanism.DAEMONSET: InstallMode.ONDELETE,
    Mechanism.JOB: InstallMode.JOB,
    Mechanism.LABEL: InstallMode.LABEL,
}


def _install_mode(spec: PlanSpec, cluster: str, found: Found, say: Callable[[str], None]) -> InstallMode:
    """The copy installs the way the live cluster does (as the pre-flight checks read it; the
    plan's mechanism, or kata-deploy's DaemonSet, when it cannot be read)."""
    fallback = MODE_OF.get(spec.install.mechanism, InstallMode.ONDELETE)
    if cluster in found.deployments:
        return MODE_OF[found.deployments[cluster].mechanism]
    if not found.unread:
        say(f"{cluster}: the kubeconfig has no context for it; the copy installs by {fallback.value}")
    else:
        say(f"{cluster}: its kata-deploy could not be read ({found.unread}); the copy installs by {fallback.value}")
    return fallback


def _copy(
    store: Store, spec: PlanSpec, cluster: str, client: KubeClient | None, options: RehearsalOptions
) -> tuple[ClusterCopy, FleetSpec]:
    """The cluster's nodes from the store and, when it answers, its workloads from the cluster."""
    nodes = copy_fleet(store, cluster)
    copy = ClusterCopy(cluster, len(nodes.fleet.nodes), approximated=nodes.approximated)
    if not options.workloads:
        copy.workloads = "not copied (--no-workloads): nodes are drained empty"
        return copy, nodes.fleet
    if client is None:
        copy.workloads = "not copied: the kubeconfig has no context for it; nodes are drained empty"
        return copy, nodes.fleet
    names = {n.name for n in nodes.fleet.nodes}
    try:
        copied = copy_workloads(
            client, names, build_selector=spec.drain.build_selector, build_seconds=options.build_seconds
        )
    except (UnreachableError, RefusedError) as exc:
        copy.workloads = f"not copied: {exc.message}; nodes are drained empty"
        return copy, nodes.fleet
    w = copied.workloads
    copy.pods, copy.builds, copy.recreated, copy.pdbs = len(w.pods), copied.builds, copied.recreated, len(w.pdbs)
    nodes.fleet.workloads = w
    return copy, nodes.fleet


def _keep_builds_coming(nodes: list[NodeSpec], workloads: Workloads | None) -> None:
    """New builds keep arriving at the rate the copy shows (the simulator's churn keeps the
    number of running builds at the fleet's total), so upgraded nodes get Kata pods again."""
    per_node: dict[str, int] = {}
    for pod in workloads.pods if workloads else []:
        if RUN_SECONDS_ANNOTATION in pod["metadata"]["annotations"]:
            per_node[pod["spec"]["nodeName"]] = per_node.get(pod["spec"]["nodeName"], 0) + 1
    for node in nodes:
        node.builds = per_node.get(node.name, 0)


def _prometheus(stack: ExitStack, work: Path, plan: Plan, options: RehearsalOptions) -> tuple[str | None, str]:
    """A Prometheus scraping every simulator, when the plan has gates; and what the report says about gates."""
    gates = plan.spec.gates
    if not gates_need_prometheus(gates.enabled, gates.checks):
        return None, "the plan has no gates"
    if not options.gates:
        return None, "not rehearsed (--no-gates)"
    if not prometheus_binary():
        return None, "not rehearsed: Prometheus is not installed here (apt-get install prometheus)"
    url = stack.enter_context(prometheus_server(work / "targets" / "*.json"))
    options.progress("waiting for Prometheus to scrape the simulated nodes twice...")
    source = PromSource(PromConfig(url=url), "1m")
    wanted = len(plan.nodes)
    deadline = time.monotonic() + DATA_WAIT_S
    while time.monotonic() < deadline:
        values = source.values('count(count_over_time(up{job="kata-monitor"}[1m]) >= 2)')
        if isinstance(values, list) and values and values[0] >= wanted:
            break
        time.sleep(0.5)
    return url, "rehearsed against a Prometheus scraping the simulated nodes"


def _create_run(scratch: Store, plan: Plan, scale: float, *, gates: bool) -> int:
    document = {**run_document(plan), "source": scaled_document(plan.spec, scale, gates=gates)}
    waves = [[DraftNode(c.cluster, c.name, c.kata, plan.spec.target) for c in wave] for wave in plan.waves]
    return create_run(scratch, name=plan.spec.name, target=plan.spec.target, plan=document, waves=waves)


def _wave_results(view: RunView, scale: float) -> list[WaveResult]:
    out = []
    for wave in view.waves:
        steps = view.wave_steps(wave.number)
        end = wave.finished_at or max((s.updated_at for s in steps), default=None)
        seconds = (end - wave.started_at).total_seconds() * scale if wave.started_at and end else None
        timed = [(_node_seconds(s), s.node) for s in steps if _node_seconds(s) is not None]
        slowest = max(timed)[1] if timed else None
        out.append(WaveResult(wave.number, wave.size, wave.state, seconds, slowest, wave.gate_state, wave.gate_message))
    return out


def _node_seconds(step: Any) -> float | None:
    spent = step.facts.get("seconds") or {}
    return float(sum(spent.values())) if spent else None


def _node_results(
    scratch: Store,
    view: RunView,
    scale: float,
    sims: Mapping[str, Simulator],
    originals: Mapping[tuple[str, str, str], dict[str, Any]],
) -> list[NodeResult]:
    builds_by_node: dict[tuple[str, str], int] = {}
    for cluster, ns, name in _removed_pods(scratch, view.run.id or 0):
        pod = originals.get((cluster, ns, name))
        if pod is not None and RUN_SECONDS_ANNOTATION in pod["metadata"]["annotations"]:
            key = (cluster, pod["spec"]["nodeName"])
            builds_by_node[key] = builds_by_node.get(key, 0) + 1
    out = []
    for s in view.steps:
        drain = s.facts.get("drain") or {}
        spent = s.facts.get("seconds") or {}
        refused_pods = list(drain.get("refusedPods") or [])
        waited = drain.get("waitedForBuilds")
        seconds = _node_seconds(s)
        out.append(
            NodeResult(
                cluster=s.cluster, name=s.node, wave=s.wave, state=s.state, message=s.message,
                seconds=seconds * scale if seconds is not None else None,
                drain_seconds=float(spent["drain"]) * scale if "drain" in spent else None,
                refused=int(drain.get("refused") or 0),
                refused_by=_pdbs_for(sims[s.cluster], s.cluster, refused_pods, originals),
                builds_evicted=builds_by_node.get((s.cluster, s.node), 0),
                waited_for_builds=float(waited) * scale if waited else None,
            )
        )  # fmt: skip
    return out


def _removed_pods(scratch: Store, run_id: int) -> list[tuple[str, str, str]]:
    """(cluster, namespace, name) of every pod the rehearsal evicted or deleted (its audit trail)."""
    with scratch.read_connection() as conn:
        rows = conn.execute(
            sa.select(col(Cluster.name), col(AuditEvent.target))
            .join(Cluster, col(Cluster.id) == col(AuditEvent.cluster_id))
            .where(
                col(AuditEvent.run_id) == run_id,
                col(AuditEvent.action).in_(("evict", "delete-pod")),
                col(AuditEvent.result) == "ok",
                col(AuditEvent.target).startswith("pod/"),
            )
        ).all()
    out = []
    for cluster, target in rows:
        _, ns, name = [*target.split("/", 2), "", ""][:3]
        out.append((str(cluster), ns, name))
    return out


def _pdbs_for(
    sim: Simulator, cluster: str, pods: list[str], originals: Mapping[tuple[str, str, str], dict[str, Any]]
) -> list[str]:
    """The PDBs (namespace/name) whose selectors match the refused pods."""
    found: set[str] = set()
    for ref in pods:
        ns, _, name = ref.partition("/")
        pod = sim.get_object("pods", ns, name) or originals.get((cluster, ns, name), {})
        found.update(sim.pdbs_covering(ns, pod.get("metadata", {}).get("labels") or {}))
    return sorted(found)
