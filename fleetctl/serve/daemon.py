"""The daemon: an HTTP endpoint on every replica, and jobs on the one that holds the leader Lease.

Leadership is a coordination.k8s.io Lease (``kube-system/fleetctl-serve``) in the first
cluster, renewed at a third of its TTL. Only the leader runs the APScheduler scheduler, whose
jobs live in the fleetctl database, so a replica that takes over finds the same jobs. SIGTERM
stops new work, interrupts each rollout at its next step boundary (the run stays ``running``,
resumable), gives the Lease back and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CONTENT_TYPE_LATEST

from clients.kube.client import KubeClient
from clients.kube.errors import KubeApiError
from fleetctl.serve import jobs
from fleetctl.serve.triggers import WindowTrigger
from store.errors import FleetctlError
from upgrades.lease import KubeLease, LeaseHeld, new_identity
from upgrades.scheduling import window_of

log = logging.getLogger("fleetctl.serve")
LEADER_LEASE = "fleetctl-serve"
JOB_TABLE = "apscheduler_jobs"


@dataclass
class ServeOptions:
    """How the daemon runs (``fleetctl serve`` flags)."""

    host: str = "0.0.0.0"
    port: int = 8080
    collect_interval_s: float = 30.0
    health_interval_s: float = 60.0
    release_interval_s: float = 86_400.0
    reconcile_interval_s: float = 15.0
    leader_ttl_s: float = 15.0
    misfire_grace_s: float = 300.0


class Daemon:
    """One ``fleetctl serve`` process."""

    def __init__(self, ctx: jobs.Context, options: ServeOptions) -> None:
        self.ctx, self.options = ctx, options
        self.identity = new_identity()
        ctx.identity = self.identity
        self.lease = KubeLease(LEADER_LEASE, self.identity, timedelta(seconds=options.leader_ttl_s))
        self.leader_client: KubeClient = next(iter(ctx.clients.values()))
        self.scheduler: AsyncIOScheduler | None = None
        self.stopping = asyncio.Event()
        self.ready_reason = "starting"
        self.lease_ok_at: datetime | None = None

    # --- lifetime --------------------------------------------------------------------------

    async def run(self) -> int:
        """Serve until SIGTERM or SIGINT; 0 after a clean stop."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        jobs.CONTEXT = self.ctx
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.options.host, self.options.port)
        await site.start()
        log.info(
            "serving /healthz /readyz /metrics on %s:%s as %s", self.options.host, self.options.port, self.identity
        )
        try:
            await self._elect()
        finally:
            await self._follow("shutting down")
            await asyncio.to_thread(self._give_back)
            await runner.cleanup()
        log.info("stopped")
        return 0

    def _on_signal(self, sig: int) -> None:
        log.info("%s: finishing the current node steps, then stopping", signal.Signals(sig).name)
        self.ctx.interrupt.set()
        self.stopping.set()

    async def _elect(self) -> None:
        """Hold the Lease and lead, or wait for it; every third of the TTL."""
        interval = max(0.2, self.options.leader_ttl_s / 3)
        while not self.stopping.is_set():
            try:
                await asyncio.to_thread(self.lease.take, self.leader_client)
                self.lease_ok_at = datetime.now(UTC)
                if self.scheduler is None:
                    await self._lead()
            except LeaseHeld as held:
                self.lease_ok_at = datetime.now(UTC)
                if self.scheduler is not None:
                    await self._follow(f"lost the Lease to {held.holder}")
                self.ready_reason = f"following {held.holder}"
            except (KubeApiError, FleetctlError) as exc:
                log.warning("leader election: %s", exc)
                if self.scheduler is not None and self._lease_expired():
                    await self._follow("could not renew the Lease before it expired")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=interval)

    def _lease_expired(self) -> bool:
        return self.lease_ok_at is None or datetime.now(UTC) - self.lease_ok_at > self.lease.ttl

    async def _lead(self) -> None:
        log.info("leading: starting the scheduler")
        self.ctx.interrupt.clear()
        self.ctx.metrics.leader.set(1)
        store = self.ctx.store
        scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=store.engine, tablename=JOB_TABLE)},
            executors={"default": ThreadPoolExecutor(8)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(self.options.misfire_grace_s),
            },
            timezone=UTC,
        )
        self.ctx.poke = lambda job_id: self._poke(scheduler, job_id)
        self.ctx.sync = lambda schedules: self._sync(scheduler, schedules)
        now = datetime.now(UTC)
        intervals = {
            "collect-inventory": (jobs.collect_inventory, self.options.collect_interval_s),
            "collect-health": (jobs.collect_health, self.options.health_interval_s),
            "sync-releases": (jobs.sync_releases, self.options.release_interval_s),
            "reconcile": (jobs.reconcile, self.options.reconcile_interval_s),
        }
        for job_id, (fn, seconds) in intervals.items():
            scheduler.add_job(
                fn, "interval", seconds=seconds, id=job_id, name=job_id, replace_existing=True, next_run_time=now
            )
        scheduler.start()
        self.scheduler = scheduler
        self.ready_reason = "leading"

    async def _follow(self, why: str) -> None:
        """Stop leading: no new job starts, and rollouts stop at their next step boundary."""
        scheduler, self.scheduler = self.scheduler, None
        self.ctx.metrics.leader.set(0)
        if scheduler is None:
            return
        log.info("not leading (%s): stopping the scheduler", why)
        scheduler.pause()  # no job starts from here on
        self.ctx.interrupt.set()  # and rollouts stop at their next step boundary
        await asyncio.to_thread(self.ctx.wait_idle)
        scheduler.shutdown(wait=False)

    def _give_back(self) -> None:
        try:
            self.lease.give_back(self.leader_client)
        except (KubeApiError, FleetctlError) as exc:
            log.warning("could not give the Lease back (it expires on its own): %s", exc)

    @staticmethod
    def _poke(scheduler: AsyncIOScheduler, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))

    @staticmethod
    def _sync(scheduler: AsyncIOScheduler, schedules: list[Any]) -> None:
        wanted = {f"schedule-{s.id}": s for s in schedules if s.enabled}
        for existing in scheduler.get_jobs():
            if existing.id.startswith("schedule-") and existing.id not in wanted:
                existing.remove()
        for job_id, schedule in wanted.items():
            trigger = WindowTrigger(window_of(schedule))
            current = scheduler.get_job(job_id)
            if current is not None and str(current.trigger) == str(trigger):
                continue
            scheduler.add_job(
                jobs.run_schedule, trigger, args=[schedule.id], id=job_id, name=f"schedule {schedule.name}",
                replace_existing=True, misfire_grace_time=max(1, int(schedule.duration_s)),
            )  # fmt: skip

    # --- endpoints ---------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _request: web.Request) -> web.Response:
        problems = []
        try:
            await asyncio.to_thread(self.ctx.store.ping)
        except FleetctlError as exc:
            problems.append(f"store: {exc}")
        if self._lease_expired():
            problems.append("the leader Lease could not be read or renewed lately")
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        return web.Response(text=f"ok: {self.ready_reason}\n")

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(self.ctx.metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def run_daemon(ctx: jobs.Context, options: ServeOptions) -> int:
    """Run the daemon in this thread until it stops."""
    threading.current_thread().name = "serve"
    return asyncio.run(Daemon(ctx, options).run())
