"""``fleetctl serve``: the daemon (collection, scheduled rollouts, /healthz /readyz /metrics)."""

from __future__ import annotations

import logging
import sys
import time
from datetime import timedelta
from typing import Annotated

import typer

from fleetctl.console import say_if_created
from fleetctl.settings import Settings
from store.durations import parse_duration
from store.errors import BadInputError


def _seconds(text: str, flag: str, minimum: float = 0.1) -> float:
    value = parse_duration(text, where=flag).total_seconds()
    if value < minimum:
        raise BadInputError(f"must be at least {minimum:g}s", where=flag, hint=f"e.g. {flag} 30s")
    return value


def serve(
    ctx: typer.Context,
    address: Annotated[
        str, typer.Option("--address", help="Address for /healthz, /readyz and /metrics.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port for the endpoints.")] = 8080,
    collect_interval: Annotated[
        str, typer.Option("--collect-interval", help="Inventory collection interval (default: the config's, 30s).")
    ] = "",
    health_interval: Annotated[str, typer.Option("--health-interval", help="Health collection interval.")] = "60s",
    reconcile_interval: Annotated[
        str, typer.Option("--reconcile-interval", help="How often schedules and their runs are looked at.")
    ] = "15s",
    leader_ttl: Annotated[
        str, typer.Option("--leader-ttl", help="The leader Lease's time to live; a replica takes over after it.")
    ] = "15s",
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            help="Prometheus URL for every cluster (default: the config's [prometheus] and its per-context urls; cluster_label still applies).",
        ),
    ] = None,
    poll: Annotated[str, typer.Option("--poll", help="How often rollouts poll the cluster while waiting.")] = "1s",
    lease_ttl: Annotated[str, typer.Option("--lease-ttl", help="Each run lock's time to live.")] = "30s",
) -> None:
    """Collect on a timer and run scheduled rollouts in their windows. Run two replicas for
    failover: the one holding the Lease kube-system/fleetctl-serve leads. SIGTERM stops at the
    next node step boundary and exits 0."""
    from collectors.releases.catalog import kernel_pins
    from fleetctl.serve.daemon import ServeOptions, run_daemon
    from fleetctl.serve.jobs import Context
    from fleetctl.serve.metrics import Metrics
    from fleetctl.services import health_runner, open_clients
    from store.migrate import open_store

    settings: Settings = ctx.obj
    options = ServeOptions(
        host=address,
        port=port,
        collect_interval_s=_seconds(collect_interval or settings.collect_interval, "--collect-interval", 1),
        health_interval_s=_seconds(health_interval, "--health-interval", 1),
        reconcile_interval_s=_seconds(reconcile_interval, "--reconcile-interval"),
        leader_ttl_s=_seconds(leader_ttl, "--leader-ttl", 1),
    )
    poll_s = _seconds(poll, "--poll", 0.01)
    run_ttl = timedelta(seconds=_seconds(lease_ttl, "--lease-ttl", 1))
    clients = open_clients(
        settings.kubeconfig, [settings.context] if settings.context else None, all_contexts=not settings.context
    )
    _logging()
    with open_store(settings.db) as store:
        say_if_created(store)
        context = Context(
            store=store,
            clients={c.name: c for c in clients},
            pins=kernel_pins(store),
            health=health_runner(settings, prometheus),
            metrics=Metrics(store, per_node=settings.metrics_per_node, cache_s=options.collect_interval_s),
            prometheus=settings.prom_config(prometheus),
            poll_s=poll_s,
            lease_ttl=run_ttl,
            parallel=settings.collect_parallel,
            selectors=settings.pod_selectors(),
        )
        code = run_daemon(context, options)
    raise typer.Exit(code)


def _logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger("fleetctl")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").addHandler(handler)
