"""``fleetctl collect``: read clusters into the store, once or continuously."""

from __future__ import annotations

import sys
import threading
from typing import Annotated, Any

import typer

from fleetctl.cli.options import OutputOption, output_format
from fleetctl.console import err, say_if_created
from fleetctl.exitcodes import ExitCode
from fleetctl.output import collection_item, document, to_json, to_yaml
from fleetctl.services import health_runner, open_clients
from fleetctl.settings import Settings


def _summary_line(r: Any) -> str:
    hint = f"\n  hint: {r.hint}" if r.hint else ""
    if r.error and r.snapshot is None:
        return (
            f"cluster {r.cluster}: FAILED after {r.seconds:.1f}s ({r.errors_retried} errors retried): {r.error}{hint}"
        )
    if r.error:
        return f"cluster {r.cluster}: {r.nodes} nodes written, but {r.error}{hint}"
    s = r.snapshot
    return (
        f"cluster {r.cluster}: {r.nodes} nodes, {r.pods} pods; nodes {s.added} new, {s.changed} updated, {s.gone} gone; "
        f"{s.change_rows} history rows written; {r.errors_retried} errors retried; {r.seconds:.1f}s"
    )


def collect(
    ctx: typer.Context,
    context: Annotated[
        list[str] | None,
        typer.Option(
            "--context",
            help="Kubeconfig context to collect (repeatable). Default: the global --context, else current-context.",
        ),
    ] = None,
    all_contexts: Annotated[
        bool, typer.Option("--all-contexts", help="Collect every context in the kubeconfig.")
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep collecting: watch nodes, write every --interval, until Ctrl-C.")
    ] = False,
    once: Annotated[bool, typer.Option("--once", help="Collect once and exit (the default).")] = False,
    interval: Annotated[
        str,
        typer.Option(
            "--interval", help="With --watch: how often to write (default: the config's collect_interval, 30s)."
        ),
    ] = "",
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            help="Prometheus URL for VM health, for every cluster (default: the config's [prometheus] and its per-context urls; cluster_label still applies; none: Kubernetes checks only).",
        ),
    ] = None,
    retain: Annotated[
        str | None,
        typer.Option(
            "--retain", help="After each round, drop history older than this (90d, ...), as `db compact` does."
        ),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(
            "--parallel", min=1, help="Clusters collected at once (default: the config's collect_parallel, 8)."
        ),
    ] = None,
    output: OutputOption = None,
) -> None:
    """Collect nodes, Kata versions, kernels and hypervisors from clusters into the store."""
    from clients.kube.client import KubeClient
    from collectors.inventory.collector import collect_cluster
    from collectors.releases.catalog import kernel_pins
    from fleetctl.parallel import bounded_map
    from store.durations import parse_duration
    from store.errors import BadInputError
    from store.migrate import open_store

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    if watch and once:
        raise BadInputError("--watch and --once contradict each other", where="collect", hint="pick one")
    seconds = parse_duration(interval or settings.collect_interval, where="--interval").total_seconds()
    if seconds < 1:
        raise BadInputError("--interval must be at least 1s", where="--interval")
    names = list(context or ([settings.context] if settings.context else []))
    clients = open_clients(settings.kubeconfig, names or None, all_contexts=all_contexts)
    health = health_runner(settings, prometheus, parse_duration(retain, where="--retain") if retain else None)
    with open_store(settings.db) as store:
        say_if_created(store)
        pins = kernel_pins(store)
        selectors = settings.pod_selectors()
        if watch:
            _watch(clients, store, pins, seconds, health, selectors)
            return
        done: list[str] = []

        def one(client: KubeClient) -> tuple[Any, Any]:
            """A cluster's inventory and health, each in its own transactions; an unreachable
            cluster is its own result and never holds up the others."""
            result = collect_cluster(client, store, pins, selectors=selectors)
            checked = None if result.snapshot is None else health(store, client)  # a refused list still wrote facts
            done.append(client.name)
            if sys.stderr.isatty():
                sys.stderr.write(f"\rcollected {len(done)} of {len(clients)} clusters ({client.name})")
                sys.stderr.flush()
            return result, checked

        pairs = bounded_map(one, clients, parallel or settings.collect_parallel)
        results, healths = [r for r, _ in pairs], [h for _, h in pairs]
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
    if fmt == "table":
        for r, h in zip(results, healths, strict=True):
            (err if r.error else typer.echo)(_summary_line(r))
            if h is not None:
                typer.echo(_health_line(h))
                for failure in h.query_failures:
                    err(f"warning: cluster {h.cluster}: health query failed, those checks are unknown: {failure}")
    else:
        doc = document(
            "CollectionList",
            items=[collection_item(r, h) for r, h in zip(results, healths, strict=True)],
        )
        typer.echo(to_json(doc) if fmt == "json" else to_yaml(doc).rstrip())
    if store.created and all(r.snapshot is None for r in results):
        _remove_new_store(store)
    if any(r.error for r in results):
        raise typer.Exit(ExitCode.UNREACHABLE)


def _remove_new_store(store: Any) -> None:
    """A store this run created but could fill with nothing goes again, so the next command says
    "no store yet" rather than answering from an empty one."""
    path = store.url.sqlite_path
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        part.unlink(missing_ok=True)
    err(f"note: removed the new store at {path}: no cluster could be collected")


def _health_line(h: Any) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in h.by_status.items() if n)
    return f"cluster {h.cluster}: health {counts or 'no nodes'}; {h.transitions} checks changed; {h.seconds:.1f}s"


def _watch(clients: list[Any], store: Any, pins: dict[str, str], seconds: float, health: Any, selectors: Any) -> None:
    from collectors.inventory.watching import watch_cluster

    stop = threading.Event()
    lock = threading.Lock()

    def reporter(client: Any) -> Any:
        def report(result: Any) -> None:
            h = None if result.snapshot is None else health(store, client)  # a reported refusal still wrote facts
            with lock:
                (err if result.error else typer.echo)(_summary_line(result))
                if h is not None:
                    typer.echo(_health_line(h))

        return report

    threads = [
        threading.Thread(
            target=watch_cluster,
            args=(c, store, pins),
            kwargs={"interval": seconds, "stop": stop, "on_round": reporter(c), "selectors": selectors},
            daemon=True,
        )
        for c in clients
    ]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()
        err("stopping: finishing the current round...")
        for t in threads:
            t.join(timeout=30)
        raise
