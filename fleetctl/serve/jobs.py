"""The daemon's jobs. The job store keeps references to these functions (``module:name``), so
they are module-level and find what they work with in ``CONTEXT``, which the daemon sets."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from clients.kube.client import KubeClient
from clients.prom import PromConfig
from collectors.inventory.pods import DEFAULT_SELECTORS, PodSelectors
from fleetctl.parallel import bounded_map
from fleetctl.serve.metrics import Metrics
from store.engine import Store
from store.errors import BusyError, FleetctlError

log = logging.getLogger("fleetctl.serve")
F = TypeVar("F", bound=Callable[..., None])


@dataclass
class Context:
    """What the jobs of this replica share."""

    store: Store
    clients: dict[str, KubeClient]
    pins: dict[str, str]
    health: Callable[[Store, KubeClient], Any] | None
    metrics: Metrics
    prometheus: PromConfig | None
    poll_s: float = 1.0
    lease_ttl: timedelta = timedelta(seconds=30)
    identity: str = "fleetctl-serve"
    parallel: int = 8  # clusters collected at once (collect_parallel)
    selectors: PodSelectors = DEFAULT_SELECTORS  # [selectors]: the pods the collector reads
    interrupt: threading.Event = field(default_factory=threading.Event)
    poke: Callable[[str], None] = lambda _job_id: None  # run a job now (the scheduler's modify_job)
    sync: Callable[[list[Any]], None] = lambda _schedules: None  # one job per schedule, no other
    busy: set[int] = field(default_factory=set)  # schedules executing in this process
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: int = 0
    idle: threading.Condition = field(default_factory=threading.Condition)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job runs (after the interrupt, rollouts end at their next step boundary)."""
        with self.idle:
            return self.idle.wait_for(lambda: self.running == 0, timeout)


CONTEXT: Context | None = None


def _context() -> Context:
    if CONTEXT is None:
        raise RuntimeError("fleetctl serve has not set up its jobs' context")
    return CONTEXT


def job(name: str) -> Callable[[F], F]:
    """Time the job, count its failures, and log them: a failing job never stops the scheduler."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any) -> None:
            ctx = _context()
            began = time.monotonic()
            with ctx.idle:
                ctx.running += 1
            try:
                fn(*args)
            except FleetctlError as exc:
                ctx.metrics.job_errors.labels(name).inc()
                log.warning("%s: %s", name, exc)
            except Exception:
                ctx.metrics.job_errors.labels(name).inc()
                log.exception("%s failed", name)
            finally:
                ctx.metrics.job_seconds.labels(name).observe(time.monotonic() - began)
                with ctx.idle:
                    ctx.running -= 1
                    ctx.idle.notify_all()

        return run  # type: ignore[return-value]

    return wrap


@job("collect-inventory")
def collect_inventory() -> None:
    """Nodes, Kata versions, kernels and hypervisors of every cluster, into the store."""
    from collectors.inventory.collector import collect_cluster

    ctx = _context()

    def one(item: tuple[str, Any]) -> None:
        name, client = item
        result = collect_cluster(client, ctx.store, ctx.pins, selectors=ctx.selectors)
        ctx.metrics.collection_seconds.labels("inventory", name).observe(result.seconds)
        if result.error:
            ctx.metrics.collection_errors.labels("inventory", name).inc()
            log.warning("collect-inventory: cluster %s: %s", name, result.error)

    bounded_map(one, list(ctx.clients.items()), ctx.parallel)  # a slow cluster never holds up the others


@job("collect-health")
def collect_health() -> None:
    """Kubernetes and Prometheus health checks of every cluster."""
    ctx = _context()
    if ctx.health is None:
        return
    for name, client in ctx.clients.items():
        began = time.monotonic()
        try:
            result = ctx.health(ctx.store, client)
        except FleetctlError:
            ctx.metrics.collection_errors.labels("health", name).inc()
            raise
        ctx.metrics.collection_seconds.labels("health", name).observe(time.monotonic() - began)
        for failure in getattr(result, "query_failures", []):
            ctx.metrics.collection_errors.labels("health", name).inc()
            log.warning("collect-health: cluster %s: a health query failed: %s", name, failure)


@job("sync-releases")
def sync_releases() -> None:
    """The release catalog, from the bundled catalog (offline; `releases sync --from` for a feed)."""
    from collectors.releases.feed import bundled_catalog
    from store.releases import upsert_releases

    ctx = _context()
    with ctx.store.write() as session:
        upsert_releases(session, bundled_catalog(), source="bundled", at=datetime.now(UTC))


@job("schedule")
def run_schedule(schedule_id: int) -> None:
    """Whatever the schedule's open window calls for: start this opening's run, or resume its run."""
    from store.schedules import get_schedule
    from upgrades.scheduling import due, reopen, start_run

    ctx = _context()
    with ctx.lock:
        if schedule_id in ctx.busy:
            return
        ctx.busy.add(schedule_id)
    try:
        schedule = get_schedule(ctx.store, schedule_id)
        what = due(ctx.store, schedule, datetime.now(UTC))
        run_id = what.run_id
        if what.action == "start" and what.opening is not None:
            run_id = start_run(ctx.store, schedule, what.opening)
            log.info("schedule %s: window opened; %s", schedule.name, get_schedule(ctx.store, schedule_id).message)
        if what.action == "none" or run_id is None or ctx.interrupt.is_set():
            return
        if what.action == "resume":
            reopen(ctx.store, run_id)
        log.info("schedule %s: executing run %s", schedule.name, run_id)
        state = execute(ctx, run_id)
        log.info("schedule %s: run %s is %s", schedule.name, run_id, state)
    finally:
        with ctx.lock:
            ctx.busy.discard(schedule_id)


def execute(ctx: Context, run_id: int) -> str:
    """Carry a run forward here until it is done, paused, or this replica stops."""
    from fleetctl.services import execute_run, make_executor_options, needs_prometheus

    # gates with no Prometheus, or one that does not answer: refused before the run starts, and logged
    options = make_executor_options(
        ctx.prometheus, need_prometheus=needs_prometheus(ctx.store, run_id), poll_s=ctx.poll_s,
        lease_ttl=ctx.lease_ttl, pins=ctx.pins, actor=f"fleetctl-serve/{ctx.identity}",
        progress=lambda message: log.info("%s", message), interrupt=ctx.interrupt,
    )  # fmt: skip
    try:
        return execute_run(ctx.store, None, run_id, options, ctx.clients)
    except BusyError as exc:  # another executor has it (a replica that is not dead yet): try later
        log.info("run %s: %s", run_id, exc)
        return "busy"


@job("reconcile")
def reconcile() -> None:
    """Keep one job per schedule, and run the schedules whose window is open and has work now
    (a replica that took over, a restart, or a run that waited for the window)."""
    from store.schedules import list_schedules
    from upgrades.scheduling import due

    ctx = _context()
    now = datetime.now(UTC)
    schedules = list_schedules(ctx.store)
    ctx.sync(schedules)
    for schedule in schedules:
        assert schedule.id is not None
        if schedule.id in ctx.busy or due(ctx.store, schedule, now).action == "none":
            continue
        ctx.poke(f"schedule-{schedule.id}")
