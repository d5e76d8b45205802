"""Chaos: a fleet rollout that is broken on purpose, then checked.

Phase 1 rolls one part of the fleet with ``upgrade apply``; the executor is SIGKILLed at random
and resumed each time. Phase 2 rolls the rest from a schedule run by two ``fleetctl serve``
replicas; the leader gets SIGTERM, later SIGKILL, and the standby takes over each time.
Throughout:
- 5% of API requests fail with a 500, and watches are dropped every few seconds;
- Prometheus is stopped for a while in the middle of a wave: gates must pause, never pass;
- a read transaction is held open on the store, again and again.

Each phase ends on its run's own event (done, paused by the failure budget, failed), never on a
clock, and the executor is only killed after it has made progress since it last started, so a slow
machine makes the run longer, not different. A per-phase deadline is a safety net: when it fires,
the harness aborts the run through fleetctl and waits for the abort before anything is checked,
and the firing is reported as a harness problem (``Report.harness``), not as a broken invariant.

Afterwards the invariants are checked and printed (``Report``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from simulator.prometheus import PrometheusProcess, free_port
from simulator.server import ServerOptions, Simulator
from store.migrate import open_store
from store.models import AuditEvent, NodeStep, UpgradeRun, Wave
from store.runs import STEPS, list_runs, read_run
from tests.support.sim import admin
from upgrades.plandoc import plan_doc

FLEETCTL = [sys.executable, "-m", "fleetctl"]
TARGET = "4.1.0"
CORDONED_BY = "upgrade.fleetctl.io/cordoned-by"


@dataclass
class ChaosConfig:
    """How hard to break things. The defaults are ``make chaos``: the seed fleet."""

    profile: str = "seed"
    seed: int = 3
    time_scale: float = 20.0
    first_arches: tuple[str, ...] = ("amd64",)  # phase 1 (apply); the other arches go to phase 2 (serve)
    kill_every: tuple[float, float] = (3.0, 10.0)  # real seconds from an executor's progress to its SIGKILL
    serve_kills: int = 4  # phase 2: SIGTERM the leader, then SIGKILL it, this many times in all
    api_error_rate: float = 0.05
    drop_watches_after_s: float = 5.0
    prometheus_outage_s: float = 60.0  # at least; it lasts until a gate has faced it
    read_hold_s: float = 20.0  # each long read transaction
    db: str | None = None  # default: SQLite in the work directory
    phase_deadline_s: float = 1200.0  # a safety net per phase, never a pass/fail criterion
    say: Callable[[str], None] = print


@dataclass
class Check:
    """One invariant and what was found."""

    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    """What happened and which invariants held."""

    checks: list[Check] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    phases: list[str] = field(default_factory=list)  # how each phase ended
    harness: list[str] = field(default_factory=list)  # safety deadlines that fired: the harness's problem

    @property
    def ok(self) -> bool:
        """Every invariant held."""
        return all(c.ok for c in self.checks)

    def lines(self) -> list[str]:
        """The report, one line per fact, phase ending, harness problem and invariant."""
        out = [f"  {k}: {v}" for k, v in self.facts.items()]
        out += [f"  [ended] {p}" for p in self.phases]
        out += [f"  [HARNESS] {h}" for h in self.harness]
        out += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks]
        return out


class Chaos:
    """One chaos run in a work directory of its own."""

    def __init__(self, config: ChaosConfig, work: Path | None = None) -> None:
        self.config = config
        self.work = work or Path(tempfile.mkdtemp(prefix="fleetctl-chaos-"))
        self.db = config.db or f"sqlite:///{self.work / 'chaos.db'}"
        self.rng = random.Random(config.seed)
        self.report = Report()
        self.requests: list[dict[str, Any]] = []
        self.outage: tuple[float, float] | None = None  # wall-clock seconds (time.time())
        self.gate_paused_in_outage = False
        self.gate_faced_outage = threading.Event()  # a gate ran while Prometheus was down: it may come back
        self.aborted: set[int] = set()  # runs the harness aborted when a safety deadline fired
        self.kills = Counter[str]()
        self.began = time.monotonic()
        self._stop = threading.Event()

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> Report:
        """Set up, break things through both phases, check the invariants."""
        c = self.config
        options = ServerOptions(
            profile=c.profile, seed=c.seed, time_scale=c.time_scale, out_dir=self.work / "sim", bookmark_seconds=0.5
        )
        with Simulator(options) as self.sim, open_store(self.db) as self.store:
            self.prometheus = PrometheusProcess(self.sim.targets)
            self.prometheus.start()
            try:
                self._setup()
                reader = threading.Thread(target=self._long_reads, name="long-reads", daemon=True)
                reader.start()
                try:
                    self._phase_apply()
                    self._phase_serve()
                finally:
                    self._stop.set()
                    reader.join(timeout=c.read_hold_s + 10)
                    admin(self.sim, "/_sim/faults", "PATCH", {"api": {"errorRate": 0.0, "dropWatchesAfterSeconds": 0}})
                self._check()
            finally:
                self.prometheus.close()
        return self.report

    def _setup(self) -> None:
        result = self.fleetctl("collect")
        assert result.returncode == 0, result.stderr
        self.initially_cordoned = set(self._cordoned())
        truth = self.sim.world.truth()
        self.first = sorted(n for n, t in truth.items() if t["arch"] in self.config.first_arches)
        self.rest = sorted(n for n, t in truth.items() if t["arch"] not in self.config.first_arches)
        admin(
            self.sim, "/_sim/faults", "PATCH",
            {"api": {"errorRate": self.config.api_error_rate, "dropWatchesAfterSeconds": self.config.drop_watches_after_s}},
        )  # fmt: skip
        self.say(
            f"fleet: {len(truth)} nodes; phase 1 (apply, SIGKILLs) rolls {len(self.first)}, phase 2 (serve, "
            f"SIGTERM/SIGKILL and failover) {len(self.rest)}; {self.config.api_error_rate:.0%} API errors, watches "
            f"dropped every {self.config.drop_watches_after_s:g}s"
        )

    def _phase_apply(self) -> None:
        plan = self._plan("chaos-apply", self.first)
        deadline = time.monotonic() + self.config.phase_deadline_s
        proc = self._executor("upgrade", "apply", plan, "--yes")
        run_id: int | None = None
        while True:
            run_id = self._supervise(proc, run_id, deadline)
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                self._deadline_fired("phase 1", run_id)
                return
            state, message = self._run_state(run_id), self._run_message(run_id or 0) if run_id else ""
            if state == "done":
                self._ended(f"phase 1: run {run_id} done after {self.kills['executor SIGKILL']} SIGKILLs")
                return
            if state == "failed" or (state == "paused" and "failure budget" in message):
                self._ended(f"phase 1: run {run_id} {state}: {message[:160]}")
                return
            if state == "paused":
                if "gate" in message and self._outage_on():
                    self.gate_paused_in_outage = True
                    self.gate_faced_outage.set()
                    self.say(f"phase 1: paused at a gate during the Prometheus outage: {message[:120]}")
                while self._outage_on() and time.monotonic() < deadline:
                    time.sleep(0.5)  # the operator waits for monitoring to come back, then resumes
            if proc.returncode == 3:
                time.sleep(1)  # back-off: the dead executor's lease, or Prometheus, is not free yet
            proc = self._executor("upgrade", "resume", str(run_id))

    def _supervise(self, proc: subprocess.Popen[bytes], run_id: int | None, deadline: float) -> int | None:
        """Watch one executor until it exits (or the safety deadline): start the outage once a later
        wave is in flight, and SIGKILL the executor a random while after it has finished a node
        since it started, so every executor makes progress however slow the machine is."""
        progress_at: float | None = None
        at_start: int | None = None
        delay = self.rng.uniform(*self.config.kill_every)
        while proc.poll() is None and time.monotonic() < deadline:
            run_id = run_id or self._run_id("chaos-apply")
            if run_id:
                steps = self._progress(run_id)
                at_start = steps if at_start is None else at_start
                if progress_at is None and steps > at_start:
                    progress_at = time.monotonic()
                if self.outage is None and self._mid_wave(run_id):
                    self._start_outage(run_id)
                armed = progress_at is not None and time.monotonic() - progress_at >= delay
                if armed and not self._outage_on():  # no kill while gates face the outage
                    proc.send_signal(signal.SIGKILL)
                    self.kills["executor SIGKILL"] += 1
                    proc.wait()
                    break
            time.sleep(0.2)
        return run_id or self._run_id("chaos-apply")

    def _deadline_fired(self, phase: str, run_id: int | None, replicas: list[Replica] | None = None) -> None:
        """The safety net: abort the run through fleetctl, wait for the abort, and say what was in flight."""
        view = self._read(lambda s: read_run(s, run_id)) if run_id else None
        in_flight = [f"{st.node} at {st.step}" for st in view.steps if st.state == "running"] if view else []
        state = view.run.state if view else "not created"
        aborted = "no run to abort"
        if run_id:
            self.aborted.add(run_id)
            aborted = self._abort(run_id, replicas)
        self.report.harness.append(
            f"{phase}: the {self.config.phase_deadline_s:g}s safety deadline fired with run {run_id} {state}, "
            f"{len(in_flight)} nodes in flight {in_flight[:5]}; {aborted}. This is a harness problem (a hung or "
            "very slow phase), not a broken invariant: the invariants below were checked after the abort."
        )
        self.say(self.report.harness[-1])

    def _abort(self, run_id: int, replicas: list[Replica] | None) -> str:
        """``fleetctl upgrade abort``; with serve replicas the leader finishes it, else the command does."""
        limit = time.monotonic() + self.config.phase_deadline_s
        while time.monotonic() < limit:
            state = self._run_state(run_id)
            if state in ("aborted", "done", "failed", "rolled-back"):
                return f"aborted through fleetctl: the run is {state}"
            if state != "aborting" or not replicas:
                result = self.fleetctl("upgrade", "abort", str(run_id), "--poll", "0.2s", "--lease-ttl", "3s",
                                       timeout=self.config.phase_deadline_s)  # fmt: skip
                if result.returncode not in (0, 3):
                    return f"fleetctl upgrade abort exited {result.returncode}: {result.stderr.strip()[:200]}"
            time.sleep(1)  # back-off: a dead executor's lease expires, or the leader finishes the abort
        return f"the abort did not finish either: the run is {self._run_state(run_id)}"

    def _ended(self, message: str) -> None:
        self.report.phases.append(message)
        self.say(message)

    def _phase_serve(self) -> None:
        plan = self._plan("chaos-serve", self.rest)
        start = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
        window = f"DTSTART:{start:%Y%m%dT%H%M%SZ}\nRRULE:FREQ=SECONDLY;INTERVAL=3600"
        added = self.fleetctl("schedule", "add", plan, "--window", window, "--duration", "1h", "--name", "chaos")
        assert added.returncode == 0, added.stderr
        deadline = time.monotonic() + self.config.phase_deadline_s
        replicas = [self._serve("a"), self._serve("b")]
        run_id: int | None = None
        terminated: list[int] = []
        try:
            while True:
                run_id = run_id or self._run_id("chaos-serve")
                state = self._run_state(run_id)
                if state == "done" or state == "failed" or (state == "paused" and run_id):
                    self._ended(f"phase 2: run {run_id} {state}; {self.kills['serve SIGTERM']} SIGTERMs, "
                                f"{self.kills['serve SIGKILL']} SIGKILLs"
                                + (f": {self._run_message(run_id or 0)[:160]}" if state != "done" else ""))  # fmt: skip
                    break
                if time.monotonic() > deadline:
                    self._deadline_fired("phase 2", run_id, replicas)
                    break
                kills = self.kills["serve SIGTERM"] + self.kills["serve SIGKILL"]
                if run_id and kills < self.config.serve_kills and self._done_count(run_id) > (kills + 1) * 2:
                    leader = next((r for r in replicas if "leading" in r.ready()), None)
                    if leader is not None:
                        sig = signal.SIGTERM if kills % 2 == 0 else signal.SIGKILL
                        began = time.monotonic()
                        code = leader.stop(sig)
                        self.kills[f"serve {sig.name}"] += 1
                        if sig == signal.SIGTERM:
                            terminated.append(code)
                            self.say(f"phase 2: SIGTERM to the leader: exit {code} in {time.monotonic() - began:.1f}s")
                        replicas[replicas.index(leader)] = self._serve(f"{leader.name}{kills}")
                time.sleep(0.5)
        finally:
            for r in replicas:
                terminated.append(r.stop(signal.SIGTERM))
        self.report.facts["serve exits on SIGTERM"] = terminated

    # --- breaking things ----------------------------------------------------------------------

    def _start_outage(self, run_id: int) -> None:
        """Stop Prometheus mid-wave. It comes back once the outage has lasted its minimum and a gate
        has faced it (or the run stopped without reaching one), so the outage always meets a gate."""
        minimum = self.config.prometheus_outage_s
        self.outage = (time.time(), float("inf"))  # the end is set when it is back

        def faced() -> bool:
            return self.gate_faced_outage.is_set() or self._run_state(run_id) in (
                "done",
                "failed",
                "aborting",
                "aborted",
            )

        def outage() -> None:
            self.prometheus.stop()
            began = time.time()
            self.say(f"Prometheus stopped mid-wave (for at least {minimum:g}s, until a gate has faced it)")
            while not (time.time() - began >= minimum and faced()) and not self._stop.is_set():
                if self._gate_ran_since(run_id, began):
                    self.gate_faced_outage.set()
                time.sleep(0.5)
            self.prometheus.start()
            self.outage = (began, time.time())
            self.say(f"Prometheus is back after {time.time() - began:.0f}s")

        threading.Thread(target=outage, name="outage", daemon=True).start()

    def _gate_ran_since(self, run_id: int, since: float) -> bool:
        """A gate of the run finished (paused or failed) after ``since``: it met the outage."""
        view = self._read(lambda s: read_run(s, run_id))
        return any(
            w.gate_state in ("failed", "inconclusive")
            and w.finished_at is not None
            and w.finished_at.timestamp() >= since
            for w in view.waves
        ) or (view.run.state == "paused" and "gate" in (view.run.message or ""))

    def _long_reads(self) -> None:
        """Now and again, a read transaction held open for ``read_hold_s`` (a slow report, a backup)."""
        held = 0
        with open_store(self.db) as store:
            while not self._stop.wait(self.rng.uniform(1.0, 4.0)):
                with store.read_connection() as conn:
                    conn.execute(sa.select(sa.func.count()).select_from(NodeStep)).scalar()
                    self._stop.wait(self.config.read_hold_s)
                held += 1
        self.report.facts["long read transactions held"] = held

    # --- invariants ---------------------------------------------------------------------------

    def _check(self) -> None:
        self.requests = admin(self.sim, "/_sim/requests")
        stats = admin(self.sim, "/_sim/stats")
        truth = self.sim.world.truth()
        deletions: dict[str, int] = stats["kataDeployPodDeletions"]
        add = self.report.checks.append
        facts = self.report.facts
        facts["kills"] = dict(self.kills)
        facts["API requests"] = stats["apiRequests"]
        facts["API errors injected"] = stats["apiErrorsInjected"]
        facts["minutes"] = round((time.monotonic() - self.began) / 60, 1)
        with open_store(self.db) as store:
            runs = [r for r in list_runs(store) if r.name in ("chaos-apply", "chaos-serve")]
            views = [read_run(store, r.id or 0) for r in runs]
            steps = [s for v in views for s in v.steps]
            add(self._check_nodes(runs, views, steps, truth))
            add(self._check_outage(views))
            add(self._check_cordons())
            add(self._check_installs(steps, deletions))
            add(self._check_audit(store))
            add(self._check_integrity(store))

    def _check_nodes(self, runs: list[UpgradeRun], views: list[Any], steps: list[Any], truth: dict[str, Any]) -> Check:
        wanted = set(self.first) | set(self.rest)
        planned = {s.node for s in steps}
        aborted = {s.node for v in views if v.run.id in self.aborted for s in v.steps}
        # A run the safety net aborted may leave nodes that never started (pending at claim); nothing else.
        bad = [f"{s.node}: {s.state} at {s.step}" for s in steps if s.state not in ("done", "failed", "skipped")
               and not (s.node in aborted and s.state == "pending" and s.step == "claim")]  # fmt: skip
        bad += [f"{s.node}: done but runs {truth[s.node]['installed']}" for s in steps
                if s.state == "done" and truth[s.node]["installed"] != TARGET]  # fmt: skip
        bad += [
            f"{s.node}: {s.state} without a reason" for s in steps if s.state in ("failed", "skipped") and not s.message
        ]
        at_target = {n for n in wanted if truth[n]["installed"] == TARGET}
        excluded = wanted - planned - at_target
        done = sum(s.state == "done" for s in steps)
        detail = (
            f"{len(runs)} runs ({', '.join(f'{r.name} {r.state}' for r in runs)}); {done} done, "
            f"{sum(s.state == 'failed' for s in steps)} failed, {sum(s.state == 'skipped' for s in steps)} skipped "
            f"(each with its reason), {len(excluded)} not planned"
        )
        ok = not bad and len(runs) == 2 and all(r.state == "done" or (r.id in self.aborted and r.state == "aborted")
                                                for r in runs)  # fmt: skip
        return Check("every in-scope node is at the target or failed/skipped with a reason", ok,
                     detail if ok else f"{detail}; {bad[:5]}")  # fmt: skip

    def _check_outage(self, views: list[Any]) -> Check:
        if self.outage is None:
            return Check("gates pause, never pass, while Prometheus is down", False, "the outage never started")
        start, end = self.outage
        passed = [
            f"run {v.run.id} wave {w.number}"
            for v in views
            for w in v.waves
            if w.gate_state == "passed" and w.finished_at and start <= w.finished_at.timestamp() <= end
        ]
        ok = not passed and self.gate_paused_in_outage
        detail = f"outage {end - start:.0f}s; a gate paused the run during it: {self.gate_paused_in_outage}"
        return Check("gates pause, never pass, while Prometheus is down", ok,
                     detail + (f"; passed during it: {passed}" if passed else ""))  # fmt: skip

    def _check_cordons(self) -> Check:
        left = sorted(set(self._cordoned()) - self.initially_cordoned)
        marked = sorted(
            n for n in self.sim.world.nodes
            if CORDONED_BY in ((self.sim.world.node_obj(n) or {}).get("metadata", {}).get("annotations") or {})
        )  # fmt: skip
        return Check("no node we cordoned is left cordoned", not left and not marked,
                     f"{len(left)} newly cordoned, {len(marked)} with our cordon mark {(left + marked)[:5]}")  # fmt: skip

    def _check_installs(self, steps: list[Any], deletions: dict[str, int]) -> Check:
        twice = {n: c for n, c in deletions.items() if c > 1}
        missing = [s.node for s in steps if s.state == "done" and deletions.get(s.node, 0) != 1]
        return Check("no node was installed twice", not twice and not missing,
                     f"{sum(deletions.values())} kata-deploy pod deletions on {len(deletions)} nodes; "
                     f"twice: {twice or 'none'}; done without one: {missing[:5] or 'none'}")  # fmt: skip

    def _check_audit(self, store: Any) -> Check:
        """Every change the API server accepted from fleetctl has its audit row (pending counts:
        a killed process recorded it before sending)."""
        with store.read_connection() as conn:
            rows = conn.execute(sa.select(AuditEvent.action, AuditEvent.target, AuditEvent.result)).all()
        missing = unaudited(self.requests, [tuple(r) for r in rows])
        accepted = sum(1 for r in self.requests if _audit_target(r) is not None)
        pending = sum(1 for *_, r in rows if r == "pending")
        return Check("every mutation is in the audit trail", not missing,
                     f"{accepted} accepted writes, {len(rows)} audit rows ({pending} pending: a kill between "
                     f"request and result); unaudited: {dict(list(missing.items())[:5]) or 'none'}")  # fmt: skip

    def _check_integrity(self, store: Any) -> Check:
        problems: list[str] = []
        with store.read_connection() as conn:
            if store.backend == "sqlite":
                result = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
                if result != "ok":
                    problems.append(f"integrity_check: {result}")
                problems += [f"foreign key: {r}" for r in conn.exec_driver_sql("PRAGMA foreign_key_check").all()]
            mixed = conn.execute(
                sa.select(sa.func.count()).select_from(NodeStep).join(Wave, Wave.id == NodeStep.wave_id)  # type: ignore[arg-type]
                .where(Wave.run_id != NodeStep.run_id)
            ).scalar()  # fmt: skip
            if mixed:
                problems.append(f"{mixed} node steps in another run's wave")
            sizes = conn.execute(
                sa.select(Wave.id, Wave.size, sa.func.count(NodeStep.id))  # type: ignore[arg-type]
                .join(NodeStep, NodeStep.wave_id == Wave.id).group_by(Wave.id, Wave.size)  # type: ignore[arg-type]
            ).all()  # fmt: skip
            problems += [f"wave {w} has {n} steps, size {size}" for w, size, n in sizes if n != size]
            unfinished = conn.execute(
                sa.select(sa.func.count()).select_from(NodeStep).join(UpgradeRun, UpgradeRun.id == NodeStep.run_id)  # type: ignore[arg-type]
                .where(UpgradeRun.state == "done", NodeStep.state.in_(("pending", "running")))  # type: ignore[attr-defined]
            ).scalar()  # fmt: skip
            if unfinished:
                problems.append(f"{unfinished} unfinished node steps in done runs")
        return Check("the store passes an integrity check", not problems,
                     f"{store.backend}: " + ("; ".join(problems[:5]) if problems else
                                            ("integrity and foreign keys ok" if store.backend == "sqlite" else
                                             "foreign keys enforced by the server")
                                            + ", steps in their runs' waves, wave sizes match, done runs have no "
                                            "unfinished steps"))  # fmt: skip

    # --- helpers ------------------------------------------------------------------------------

    def say(self, message: str) -> None:
        """Progress, with the time since the start."""
        self.config.say(f"[{time.monotonic() - self.began:6.1f}s] {message}")

    def fleetctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a fleetctl command against the simulator and the store."""
        return subprocess.run(self._args(*args), capture_output=True, text=True, timeout=timeout)

    def _args(self, *args: str) -> list[str]:
        return [*FLEETCTL, "--kubeconfig", str(self.sim.kubeconfig), "--db", self.db, *args]

    def _executor(self, *args: str) -> subprocess.Popen[bytes]:
        flags = ("--prometheus", self.prometheus.url, "--poll", "0.2s", "--lease-ttl", "3s")
        log = (self.work / "executor.log").open("ab")
        try:
            return subprocess.Popen(self._args(*args, *flags), stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()

    def _serve(self, name: str) -> Replica:
        return Replica(name, self._args, self.work, self.prometheus.url)

    def _plan(self, name: str, nodes: list[str]) -> str:
        spec = {
            "target": TARGET,
            "selector": {"where": "name in (" + ", ".join(nodes) + ")"},
            "waves": {"sizes": [3, "20%"], "order": "zone-arch", "maxUnavailable": "10%"},
            "drain": {"timeout": "2m", "onTimeout": "skip"},
            "gates": {
                "soak": "1s",
                "checks": [
                    {
                        "name": "scrape-failures",
                        "query": 'max(rate(kata_monitor_scrape_failed_count{node=~"{{wave_nodes}}"}[30s]))',
                        "successCondition": "value < 0.1",
                        "interval": "1s",
                        "count": 2,
                        "consecutiveErrorLimit": 1,
                    }
                ],
            },
            "failureBudget": {"perWave": "25%", "perRun": "10%", "onBreach": "pause"},
        }
        path = self.work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(plan_doc(name, spec)))
        return str(path)

    def _outage_on(self) -> bool:
        return self.outage is not None and time.time() < self.outage[1] + 1

    def _cordoned(self) -> list[str]:
        world = self.sim.world
        return [n for n in world.nodes if (world.node_obj(n) or {}).get("spec", {}).get("unschedulable")]

    def _read(self, fn: Callable[[Any], Any]) -> Any:
        return fn(self.store)

    def _run_id(self, name: str) -> int | None:
        return self._read(lambda s: next((r.id for r in list_runs(s) if r.name == name), None))  # type: ignore[no-any-return]

    def _run_state(self, run_id: int | None) -> str | None:
        return self._read(lambda s: read_run(s, run_id).run.state) if run_id else None  # type: ignore[no-any-return]

    def _run_message(self, run_id: int) -> str:
        return str(self._read(lambda s: read_run(s, run_id).run.message))

    def _progress(self, run_id: int) -> int:
        """How far the run's nodes have got: the sum of their steps' positions (done counts past the last)."""
        view = self._read(lambda s: read_run(s, run_id))
        return sum(len(STEPS) if st.state in ("done", "failed", "skipped") else STEPS.index(st.step)
                   for st in view.steps if st.step in STEPS or st.state != "pending")  # fmt: skip

    def _done_count(self, run_id: int) -> int:
        return int(self._read(lambda s: sum(st.state == "done" for st in read_run(s, run_id).steps)))

    def _mid_wave(self, run_id: int) -> bool:
        """A later wave has nodes in flight (the outage then meets its gate)."""
        view = self._read(lambda s: read_run(s, run_id))
        running = [w for w in view.waves if w.state == "running" and w.number >= 2]
        return any(st.state == "running" for w in running for st in view.wave_steps(w.number))


class Replica:
    """One ``fleetctl serve`` process."""

    def __init__(self, name: str, args: Callable[..., list[str]], work: Path, prometheus: str) -> None:
        self.name = name
        self.port = free_port()
        command = args(
            "serve", "--port", str(self.port), "--reconcile-interval", "1s", "--leader-ttl", "3s", "--poll", "0.2s",
            "--lease-ttl", "3s", "--collect-interval", "10s", "--health-interval", "20s", "--prometheus", prometheus,
        )  # fmt: skip
        with (work / f"serve-{name}.log").open("wb") as log:
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env={**os.environ})

    def ready(self) -> str:
        """The /readyz body ("leading", "following ..."), or "" when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError as exc:
            return str(exc.read().decode())
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig``; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


_ACTION_KIND = {"cordon": "node", "uncordon": "node", "annotate": "node"}  # every node patch


def _audit_target(record: dict[str, Any]) -> tuple[str, str] | None:
    """The (kind of action, audit target) an accepted write of fleetctl's corresponds to; None for
    reads, refused writes and coordination objects (Leases)."""
    status = record.get("status") or 0
    if record["verb"] in ("get", "list", "watch") or not 200 <= status < 300:
        return None
    resource, sub, ns, name = record["resource"], record.get("subresource"), record.get("namespace"), record.get("name")
    if resource == "nodes" and record["verb"] == "patch":
        return "node", f"node/{name}"
    if resource == "pods" and sub == "eviction":
        return "evict", f"pod/{ns}/{name}"
    if resource == "pods" and record["verb"] == "delete":
        return "delete-pod", f"pod/{ns}/{name}"
    if resource == "pods" and record["verb"] == "create":
        return "create-pod", f"pod/{ns}/{name}"
    if resource == "daemonsets":
        return "set-image", f"daemonset/{ns}/{name}"
    if resource == "events" and name and ".fleetctl-" in name:
        return "event", f"node/{name.split('.fleetctl-')[0]}"
    return None


def unaudited(requests: list[dict[str, Any]], rows: list[tuple[str, str, str]]) -> dict[tuple[str, str], int]:
    """Accepted writes without an audit row, by (kind, target): rows ``(action, target, result)``
    count when ok or pending."""
    changed = Counter(t for t in map(_audit_target, requests) if t is not None)
    audited = Counter((_ACTION_KIND.get(a, a), t) for a, t, result in rows if result in ("ok", "pending"))
    return {k: n - audited[k] for k, n in changed.items() if audited[k] < n}


def dump(report: Report) -> str:
    """The report as JSON (for CI artefacts)."""
    return json.dumps(
        {
            "ok": report.ok,
            "facts": report.facts,
            "phases": report.phases,
            "harness": report.harness,
            "checks": [c.__dict__ for c in report.checks],
        }
    )
