"""The executor: one run, wave by wave, with the budgets, the gates and the run's controls.

It holds the run's locks (``RunLease``) for as long as it works. Between node starts it reads
the run's state from the store, so ``pause`` and ``abort`` from another process take effect:
no new node starts, and nodes in flight finish. It never has more nodes out than
``maxUnavailable``, counting pool nodes that were already NotReady or cordoned by others.
"""

from __future__ import annotations

import concurrent.futures as cf
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from clients.kube.client import KubeClient
from clients.kube.errors import KubeApiError, KubePermanentError
from clients.prom import PromConfig, PromSource
from store.engine import Store
from store.errors import BadInputError
from store.models import now
from store.runs import RunView, StepView, read_run, run_state, set_run, set_wave
from store.states import (
    ACTIVE_RUNS,
    FINISHED_STEPS,
    GateState,
    NodeOutcome,
    OnBreach,
    Outcome,
    RunKind,
    RunState,
    Step,
    StepState,
    Stop,
    WaveState,
)
from upgrades import window as windows
from upgrades.clock import SYSTEM_CLOCK, Clock
from upgrades.cluster import CORDONED_BY, ClusterOps
from upgrades.deployment import Deployment, DeploymentRefused, detect
from upgrades.gates import GateCheckResult, GateScope, run_gate
from upgrades.installs import installer_for
from upgrades.lease import RunLease
from upgrades.nodeflow import FlowContext, run_node
from upgrades.planfile import PlanSpec, parse_plan
from upgrades.ports import ClusterAPI, Node, Ports
from upgrades.rundoc import RunPlan

WINDOW_CLOSED = "the maintenance window closed; the run continues when it opens"
LISTED_FRESH_S = 2.0  # a node from the availability list is claimed from it if the list is this recent
AVAILABILITY_TTL_S = 5.0
HOLD_SHARE = 0.5  # a faster arch's nodes start this share of their expected head start later
"""How long a count of the pool's unavailable nodes is reused while nodes wait for a slot; a
node of the run finishing counts again at once. Counting lists every node of the cluster."""


@dataclass
class ExecutorOptions:
    """How the executor works (not what it does: that is the plan)."""

    poll_s: float = 1.0
    lease_ttl: timedelta = timedelta(seconds=30)
    prometheus: PromConfig | None = None
    pins: dict[str, str] = field(default_factory=dict)
    actor: str = "fleetctl"
    progress: Callable[[str], None] = lambda _message: None
    interrupt: threading.Event = field(default_factory=threading.Event)
    """Set it (SIGTERM) to stop at the next step boundary: the run stays ``running``, each node
    at its recorded step, and the next executor carries on from there."""
    clock: Clock = SYSTEM_CLOCK


def kube_ports(store: Store, clients: dict[str, KubeClient], options: ExecutorOptions) -> Ports:
    """The real world: the Kubernetes API of each cluster (writes audited), and a Lease plus the store's row."""
    return Ports(
        cluster=lambda name, run_id: ClusterOps(clients[name], store, run_id=run_id, actor=options.actor),
        lock=lambda names, run_id: RunLease(store, [clients[n] for n in names], run_id, ttl=options.lease_ttl),
    )


def start_order(
    steps: list[StepView], arch_of: Callable[[StepView], str], spent: dict[str, list[float]]
) -> tuple[list[StepView], dict[int, float]]:
    """Longest expected install first (the median of ``spent`` seconds for the node's arch), and
    each node's hold: ``HOLD_SHARE`` of how much shorter its install is expected to be than the
    longest. Nodes of an arch with no timings keep their place after the others and start at once."""
    typical = {arch: statistics.median(times) for arch, times in spent.items() if times}

    def expected(step: StepView) -> float:
        return typical.get(arch_of(step), 0.0)

    ordered = sorted(steps, key=expected, reverse=True)  # stable: the plan's order among equals
    longest = expected(ordered[0]) if ordered else 0.0
    return ordered, {s.id: HOLD_SHARE * (longest - expected(s)) for s in ordered if expected(s)}


class Executor:
    """Carries one stored run forward until it is done, paused or aborted."""

    def __init__(
        self,
        store: Store,
        clients: dict[str, KubeClient],
        run_id: int,
        options: ExecutorOptions,
        *,
        ports: Ports | None = None,
    ) -> None:
        self.store, self.clients, self.run_id, self.options = store, clients, run_id, options
        view = read_run(store, run_id)
        self.plan = RunPlan.parse(view.run.plan)
        self.verb = "rolled back" if view.run.kind == RunKind.ROLLBACK else "upgraded"  # what progress lines say
        self.spec: PlanSpec = parse_plan(self.plan.source, where=f"run {run_id} plan")
        self.pool = self.plan.pool
        self.max_unavailable = self.plan.max_unavailable
        self.run_budget = self.plan.run_budget
        self.wave_budgets = self.plan.wave_budgets
        clusters = sorted({s.cluster for s in view.steps})
        missing = [c for c in clusters if c not in clients]
        if missing and ports is None:
            raise BadInputError(
                f"run {run_id} needs clusters {', '.join(missing)}, which the kubeconfig does not have",
                where="--kubeconfig",
                hint="use the kubeconfig whose contexts the run was planned with",
            )
        self.ports = ports or kube_ports(store, clients, options)
        self.ops: dict[str, ClusterAPI] = {c: self.ports.cluster(c, run_id) for c in clusters}
        self.lease = self.ports.lock(clusters, run_id)
        self.clock = options.clock
        self.deployments = {c: Deployment.parse(d) for c, d in self.plan.deployments.items()}  # found in _preflight
        installer = installer_for(self.spec.install, options.pins, self.deployments, options.clock)
        self.flow = FlowContext(
            store, self.spec, options.pins, options.poll_s, installer, clock=options.clock, interrupt=options.interrupt
        )
        self._lost = threading.Event()
        self._stop_renewing = threading.Event()
        self._unavailable_cache: tuple[float, int] = (0.0, 0)
        self._listed: dict[tuple[str, str], tuple[float, Node]] = {}
        self._refused: KubePermanentError | None = None  # the first call the API server refused

    # --- the run ------------------------------------------------------------------------------

    def execute(self) -> Outcome:
        """Run until the run is done, paused or aborted; returns the state it ends in."""
        state = run_state(self.store, self.run_id)
        if state not in ACTIVE_RUNS:
            return Outcome(state)  # paused, aborted, done and rolled-back are outcomes too
        self.lease.acquire()
        renewer = threading.Thread(target=self._renew, name=f"lease-run-{self.run_id}", daemon=True)
        renewer.start()
        try:
            if state == RunState.PENDING:
                set_run(self.store, self.run_id, state=RunState.RUNNING, started_at=now(), expect=[RunState.PENDING])
            refused = self._preflight()
            return self._pause(refused) if refused else self._waves()
        finally:
            self._stop_renewing.set()
            renewer.join(timeout=5)
            self.lease.release()
            self.store.flush()  # the audit results still queued

    def _preflight(self) -> str | None:
        """Each cluster's deployment, found before any node is touched (a run stored without them,
        by a schedule or an older fleetctl) and then kept with the run; why the run cannot go, or None."""
        missing = [c for c in self.ops if c not in self.deployments]
        if not missing:
            return None
        try:
            for cluster in missing:
                self.deployments[cluster] = detect(self.ops[cluster], self.spec.install)
        except DeploymentRefused as exc:
            return str(exc)
        except KubePermanentError as exc:  # RBAC without a mechanism's rules (deploy/rbac-job-mode.yaml)
            return f"reading how kata-deploy is deployed was refused: {exc.message}"
        doc = RunPlan.parse(read_run(self.store, self.run_id).run.plan)
        stored = {**doc.deployments, **{c: d.document() for c, d in self.deployments.items()}}
        set_run(self.store, self.run_id, plan=replace(doc, deployments=stored).document())
        return None

    def _renew(self) -> None:
        interval = max(0.2, self.options.lease_ttl.total_seconds() / 3)
        while not self.clock.wait(self._stop_renewing, interval):
            try:
                if not self.lease.renew():
                    self._lost.set()
                    self.options.progress(f"run {self.run_id}: lost the run's lease; no new node starts")
                    return
            except KubeApiError:
                continue  # a blip: the lease holds until its TTL; try again

    def _waves(self) -> Outcome:
        view = read_run(self.store, self.run_id)
        for wave in view.waves:
            if wave.state == WaveState.DONE:
                continue
            outcome = self._wave(wave.number)
            if outcome != Outcome.DONE:
                return outcome
        failed = sum(1 for s in read_run(self.store, self.run_id).steps if s.state == StepState.FAILED)
        message = f"{failed} nodes failed" if failed else f"every node {self.verb}"
        set_run(self.store, self.run_id, state=RunState.DONE, finished_at=now(), message=message)
        self.options.progress(f"run {self.run_id}: done ({message})")
        return Outcome.DONE

    def _wave(self, number: int) -> Outcome:
        set_wave(self.store, self.run_id, number, state=WaveState.RUNNING, started_at=now())
        self.options.progress(f"run {self.run_id}: wave {number} started")
        stopped = self._nodes(number)
        view = read_run(self.store, self.run_id)
        steps = view.wave_steps(number)
        if stopped:
            return self._stop(stopped, number)
        breach = self._breach(view, number)
        if breach:
            set_wave(self.store, self.run_id, number, state=WaveState.FAILED, finished_at=now())
            return self._pause(f"failure budget breached in wave {number}: {breach}", breach=True)
        upgraded = [s.node for s in view.steps if s.state == StepState.DONE]
        wave_nodes = [s.node for s in steps if s.state == StepState.DONE]
        if self.spec.gates.enabled and wave_nodes:
            set_wave(self.store, self.run_id, number, gate_state=GateState.RUNNING)
            scopes = self._gate_scopes(view, steps)
            state, message, results = run_gate(
                self.spec.gates, None, nodes=upgraded, wave_nodes=wave_nodes, target=self.spec.target, clock=self.clock,
                scopes=scopes,
                should_stop=lambda: self._control() is not None,
                on_update=lambda r: set_wave(self.store, self.run_id, number, gate_results=[x.as_dict() for x in r]),
            )  # fmt: skip
            self._save_gate(number, state, message, results)
            if state == GateState.STOPPED:
                return self._stop(self._control() or Stop.PAUSED, number)
            if state != GateState.PASSED:
                set_wave(self.store, self.run_id, number, state=WaveState.FAILED, finished_at=now())
                return self._pause(f"wave {number}: {message}")
        set_wave(self.store, self.run_id, number, state=WaveState.DONE, finished_at=now())
        done = sum(1 for s in steps if s.state == StepState.DONE)
        self.options.progress(f"run {self.run_id}: wave {number} done ({done}/{len(steps)} nodes {self.verb})")
        return Outcome.DONE

    def _gate_scopes(self, view: RunView, steps: list[StepView]) -> list[GateScope]:
        """One gate scope per cluster of the run: that cluster's nodes, read from its own
        Prometheus (or with its cluster matcher), never another's."""
        done = [s for s in view.steps if s.state == StepState.DONE]
        in_wave = {s.id for s in steps}
        scopes = []
        for cluster in sorted({s.cluster for s in done}):
            prom = self.options.prometheus.for_cluster(cluster) if self.options.prometheus else None
            source = self.ports.metrics or (PromSource(prom, "1m") if prom else None)
            mine = [s for s in done if s.cluster == cluster]
            nodes, wave = [s.node for s in mine], [s.node for s in mine if s.id in in_wave]
            scopes.append(GateScope(cluster, source, nodes, wave))
        return scopes

    def _save_gate(self, number: int, state: GateState, message: str, results: list[GateCheckResult]) -> None:
        set_wave(
            self.store,
            self.run_id,
            number,
            gate_state=state,
            gate_message=message[:2000],
            gate_results=[r.as_dict() for r in results],
        )
        self.options.progress(f"run {self.run_id}: wave {number} gate {state}: {message}")

    def _nodes(self, number: int) -> Stop | None:
        """Run the wave's unfinished nodes; returns why it stopped early (None: all finished)."""
        view = read_run(self.store, self.run_id)
        todo = [s for s in view.wave_steps(number) if s.state not in FINISHED_STEPS]
        failed = [  # this wave's and the run's failures, counted here rather than re-read every poll
            sum(1 for s in view.wave_steps(number) if s.state == StepState.FAILED),
            sum(1 for s in view.steps if s.state == StepState.FAILED),
        ]
        resumed = [s for s in todo if s.step != Step.CLAIM or s.state == StepState.RUNNING]
        fresh, hold = self._longest_first([s for s in todo if s not in resumed], view)
        began = self.clock.monotonic()
        workers = max(1, self.max_unavailable)
        in_flight: dict[cf.Future[str], StepView] = {}
        stop: Stop | None = None
        with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"run-{self.run_id}") as pool:
            for step in resumed:  # already out of service: finish them first, whatever the budget says
                in_flight[pool.submit(self._node, step)] = step
            control_at = 0.0  # the stored controls are read once per poll, however often nodes finish
            while fresh or in_flight:
                stop = stop or self._halted()  # in memory: every time round
                if not stop and self.clock.monotonic() >= control_at:
                    stop, control_at = self._control(), self.clock.monotonic() + self.options.poll_s
                stop = stop or (Stop.BUDGET if self._over_budget(number, *failed) else None)
                if not stop:
                    while (
                        fresh
                        and self.clock.monotonic() - began >= hold.get(fresh[0].id, 0.0)
                        and len(in_flight) < self._slots(len(in_flight))
                    ):
                        step = fresh.pop(0)
                        in_flight[pool.submit(self._node, step)] = step
                if stop and not in_flight:
                    break
                if not in_flight:
                    self.clock.sleep(self.options.poll_s)  # waiting for unavailable nodes (or a held one's turn)
                    continue
                finished, _ = cf.wait(in_flight, timeout=self.options.poll_s, return_when=cf.FIRST_COMPLETED)
                if finished:  # a slot freed: count the others again before filling it
                    self._unavailable_cache = (0.0, 0)
                for future in finished:
                    step = in_flight.pop(future)
                    try:
                        result = future.result()
                    except KubePermanentError as exc:  # a refusal: no new node starts, the others finish
                        self._refused, stop = self._refused or exc, Stop.REFUSED
                        self.options.progress(f"run {self.run_id}: {step.cluster}/{step.node} stopped: {exc.message}")
                        continue
                    if result == NodeOutcome.FAILED:
                        failed = [failed[0] + 1, failed[1] + 1]
                    elif result == NodeOutcome.INTERRUPTED:  # the node did not finish: neither does this wave
                        stop = Stop.INTERRUPTED
                    self.options.progress(f"run {self.run_id}: {step.cluster}/{step.node} {result}")
        if stop in (Stop.WINDOW, Stop.BUDGET) and not fresh:  # it held no node back: the wave's end decides
            return None  # (the breach check fails the wave; the next wave meets the shut window)
        return stop

    def _node(self, step: StepView) -> NodeOutcome:
        stamp, node = self._listed.pop((step.cluster, step.node), (0.0, None))
        fresh = node if self.clock.monotonic() - stamp < LISTED_FRESH_S else None
        return run_node(self.flow, self.ops[step.cluster], step, fresh)

    def _longest_first(self, steps: list[StepView], view: RunView) -> tuple[list[StepView], dict[int, float]]:
        """The wave's nodes in the order to start them, and how long after the wave's start each
        may begin (by step id).

        Nodes of the arch that installed slowest so far in this run go first, and the others
        wait half of the time by which their install is expected to be shorter. The longest
        installs, which decide when the wave ends, then meet no queue of other nodes' drains,
        and the shorter ones still finish before them. Without timings of two arches yet,
        nothing moves: the plan's order, all at once. Arches come from the availability list.
        """
        spent: dict[str, list[float]] = {}
        for s in view.steps:
            seconds, arch = (s.facts.get("seconds") or {}).get("install"), s.facts.get("arch")
            if seconds and arch:
                spent.setdefault(arch, []).append(float(seconds))
        if not steps or len(spent) < 2:
            return steps, {}
        self._unavailable_cache = (self.clock.monotonic(), self._unavailable_elsewhere())  # fills _listed

        def arch_of(step: StepView) -> str:
            node = self._listed.get((step.cluster, step.node), (0.0, {}))[1]
            return str(((node.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/arch", ""))

        return start_order(steps, arch_of, spent)

    # --- controls, budgets and availability --------------------------------------------------

    def _halted(self) -> Stop | None:
        """An interrupt (SIGTERM) or a lost lease: known in memory, no read needed."""
        if self.options.interrupt.is_set():
            return Stop.INTERRUPTED
        if self._lost.is_set():
            return Stop.LEASE_LOST
        return None

    def _control(self) -> Stop | None:
        """Why no new node may start now: paused, aborted, lease lost or window closed (None: go on)."""
        halted = self._halted()
        if halted:
            return halted
        state = run_state(self.store, self.run_id)
        if state in (RunState.PAUSING, RunState.PAUSED):
            return Stop.PAUSED
        if state in (RunState.ABORTING, RunState.ABORTED):
            return Stop.ABORTED
        if not windows.is_open(self.spec.window, self.clock.now()):
            return Stop.WINDOW
        return None

    def _breach(self, view: RunView, number: int) -> str | None:
        wave_failed = sum(1 for s in view.wave_steps(number) if s.state == StepState.FAILED)
        return self._over_budget(number, wave_failed, sum(1 for s in view.steps if s.state == StepState.FAILED))

    def _over_budget(self, number: int, wave_failed: int, run_failed: int) -> str | None:
        """Why the failure budget is breached (None: it is not)."""
        wave_budget = self.wave_budgets[number - 1] if number - 1 < len(self.wave_budgets) else 0
        if wave_failed > wave_budget:
            return f"{wave_failed} nodes failed in wave {number} (perWave budget {wave_budget})"
        if run_failed > self.run_budget:
            return f"{run_failed} nodes failed in the run (perRun budget {self.run_budget})"
        return None

    def _slots(self, in_flight: int) -> int:
        """How many nodes may be out at once now: maxUnavailable minus pool nodes already out."""
        stamp, others = self._unavailable_cache
        age = self.clock.monotonic() - stamp
        if age > AVAILABILITY_TTL_S or (in_flight == 0 and age > LISTED_FRESH_S):
            others = self._unavailable_elsewhere()
            self._unavailable_cache = (self.clock.monotonic(), others)
        return max(0, self.max_unavailable - others)

    def _unavailable_elsewhere(self) -> int:
        """Pool nodes NotReady or cordoned, other than the ones this run has cordoned."""
        pool = set(self.pool)
        count = 0
        listed: dict[tuple[str, str], tuple[float, Node]] = {}
        for cluster, ops in self.ops.items():
            for page in ops.list_nodes():
                at = self.clock.monotonic()
                for node in page:
                    meta = node["metadata"]
                    if f"{cluster}/{meta['name']}" not in pool:
                        continue
                    listed[(cluster, meta["name"])] = (at, node)
                    if (meta.get("annotations") or {}).get(CORDONED_BY) == ops.marker:
                        continue
                    ready = any(
                        c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (node.get("status") or {}).get("conditions") or []
                    )
                    if node.get("spec", {}).get("unschedulable") or not ready:
                        count += 1
        self._listed = listed  # the nodes about to start claim from this list instead of a GET each
        return count

    # --- ending --------------------------------------------------------------------------------

    def _stop(self, why: Stop, number: int) -> Outcome:
        if why == Stop.INTERRUPTED:  # a checkpoint, not a pause: whoever executes it next goes on
            self.options.progress(f"run {self.run_id}: interrupted; every node is at a recorded step")
            return Outcome.INTERRUPTED
        set_wave(self.store, self.run_id, number, state=WaveState.PAUSED)
        if why == Stop.ABORTED:
            set_run(
                self.store,
                self.run_id,
                state=RunState.ABORTED,
                finished_at=now(),
                message="aborted; nodes in flight finished",
            )
            self.options.progress(f"run {self.run_id}: aborted")
            return Outcome.ABORTED
        if why == Stop.REFUSED and self._refused is not None:
            exc = self._refused
            self._pause(f"the API server refused a call: {exc.message}")
            raise type(exc)(
                exc.message, where=exc.where, status=exc.status, reason=exc.reason,
                hint=f"{exc.hint + '; then ' if exc.hint else ''}resume the run: fleetctl upgrade resume {self.run_id}",
            )  # fmt: skip
        if why == Stop.BUDGET:
            view = read_run(self.store, self.run_id)
            return self._pause(f"failure budget breached in wave {number}: {self._breach(view, number)}", breach=True)
        messages = {
            Stop.PAUSED: "paused by request",
            Stop.LEASE_LOST: "another executor took the run's lease; this one stopped",
            Stop.WINDOW: WINDOW_CLOSED,
        }
        return self._pause(messages.get(why, why))

    def _pause(self, message: str, *, breach: bool = False) -> Outcome:
        set_run(self.store, self.run_id, state=RunState.PAUSED, message=message)
        self.options.progress(f"run {self.run_id}: paused: {message}")
        if breach and self.spec.budget.on_breach == OnBreach.ROLLBACK:
            from upgrades.launch import create_rollback  # launch imports this module

            rollback_id = create_rollback(self.store, self.run_id)
            self.options.progress(f"run {self.run_id}: onBreach rollback: run {rollback_id} rolls it back")
            outcome = Executor(self.store, self.clients, rollback_id, self.options, ports=self.ports).execute()
            self.options.progress(f"run {rollback_id} (rollback of run {self.run_id}): {outcome}")
            return Outcome.ROLLED_BACK
        return Outcome.PAUSED
