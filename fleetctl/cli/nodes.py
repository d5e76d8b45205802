"""``fleetctl nodes`` and ``fleetctl query``: on-call answers from the store, with the data's age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fleetctl.cli.options import LiveOption, MaxAgeOption, OutputOption, WhereOption, output_format, store_scope
from fleetctl.console import err
from fleetctl.exitcodes import ExitCode
from fleetctl.output import UNKNOWN, freshness_metadata, listing, node_items, table, to_csv, to_json, to_yaml
from fleetctl.settings import Settings
from store.errors import BadInputError

if TYPE_CHECKING:
    from store.query.reading import HealthReason, NodeRow

FORMATS = ("table", "wide", "json", "yaml", "csv", "name")
COLUMNS = ["name", "cluster", "arch", "zone", "kata", "guest-kernel", "health", "age"]
WIDE = [
    "name",
    "cluster",
    "arch",
    "zone",
    "kata",
    "guest-kernel",
    "hypervisor",
    "host-kernel",
    "cpu",
    "stale-sandboxes",
    "drift",
    "health",
    "age",
]


def _cells(row: NodeRow, wide: bool) -> list[Any]:
    from store.durations import format_duration

    kernel = row.guest_kernel
    if kernel and row.custom_kernel:
        kernel += " (custom)"
    state = row.health.value if row.ready is not False else f"{row.health},NotReady"
    if row.cordoned:
        state += ",Cordoned"
    age = format_duration(timedelta(seconds=row.age_s))
    base = [row.name, row.cluster, row.arch, row.zone, row.kata_version, kernel]
    if not wide:
        return [*base, state, age]
    hypervisor = " ".join(x for x in (row.hypervisor, row.hypervisor_version) if x) or None
    drift = f"{len(row.drift)}: {row.drift[0]}" if row.drift else None
    stale = UNKNOWN if row.stale_sandboxes is None else row.stale_sandboxes
    return [*base, hypervisor, row.host_kernel, f"{row.cpu:g}", stale, drift, state, age]


def freshness(answer: Any, max_age: str | None, now: datetime, interval: str = "30s") -> dict[str, Any]:
    from store.durations import format_duration, parse_duration
    from store.errors import UnreachableError

    oldest = answer.oldest()
    if oldest is None:
        raise UnreachableError("no collection has been stored yet", where="store", hint="run `fleetctl collect` first")
    age = now - oldest
    if max_age is not None and age > parse_duration(max_age, where="--max-age"):
        raise UnreachableError(
            f"the data is {format_duration(age)} old, over --max-age {max_age}",
            where="store",
            hint="run `fleetctl collect`, or check that `fleetctl serve` is collecting",
        )
    clusters = ", ".join(sorted(answer.collected_at))
    stale = age > 2 * parse_duration(interval, where="collect_interval")
    note = f"; STALE: older than two collection intervals ({interval}); is collection running?" if stale else ""
    err(f"data from {format_duration(age)} ago ({clusters}){note}")
    return freshness_metadata(oldest, age, stale)


def read_answer(
    ctx: typer.Context,
    where: str | None,
    selector: str | None,
    sort_by: str,
    *,
    flag: str = "--where",
    reasons: bool = False,
) -> tuple[Any, datetime]:
    """The matching nodes (with why each is not ok, when ``reasons``); a query error names
    ``flag``, where the user wrote the query."""
    from store.query.reading import read_nodes
    from store.sqlite_read import open_reader

    settings: Settings = ctx.obj
    now = datetime.now(UTC)
    with open_reader(settings.db) as store:
        cluster = store_scope(ctx, store)
        try:
            answer = read_nodes(
                store, where=where, selector=selector, now=now, sort_by=sort_by, cluster=cluster, reasons=reasons
            )
            return answer, now
        except BadInputError as exc:
            if exc.where == "query":
                exc.where = flag
            raise


def nodes(
    ctx: typer.Context,
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", help="Label selector, as kubectl: key=value,key!=value,key in (a,b)."),
    ] = None,
    where: WhereOption = None,
    sort_by: Annotated[
        str, typer.Option("--sort-by", help="name, cluster, arch, zone, kata, health, cpu or age.")
    ] = "name",
    max_age: MaxAgeOption = None,
    live: LiveOption = False,
    output: OutputOption = None,
) -> None:
    """List nodes with their Kata release, guest kernel and health, from the store."""
    fmt = output_format(ctx, output, FORMATS)
    if live:
        _collect_first(ctx)
    structured = fmt in ("json", "yaml")
    answer, now = read_answer(ctx, where, selector, sort_by, reasons=structured)
    meta = freshness(answer, max_age, now, ctx.obj.collect_interval)
    _print(answer.items, fmt, meta, answer.reasons if structured else None)


def query(
    ctx: typer.Context,
    expression: Annotated[str, typer.Argument(help="A query, such as: health != ok and arch = s390x")],
    count: Annotated[bool, typer.Option("--count", help="Print only how many nodes match.")] = False,
    max_age: MaxAgeOption = None,
    live: LiveOption = False,
    output: OutputOption = None,
) -> None:
    """Which nodes match? Exit 1 when any do (findings), 0 when none."""
    fmt = output_format(ctx, output, FORMATS) if output or not count else "table"
    if live:
        _collect_first(ctx)
    shown = "name" if output is None and ctx.obj.output == "table" else fmt
    structured = not count and shown in ("json", "yaml")
    answer, now = read_answer(ctx, expression, None, "name", flag="query", reasons=structured)
    meta = freshness(answer, max_age, now, ctx.obj.collect_interval)
    if count:
        typer.echo(str(len(answer.items)))
    else:
        _print(answer.items, shown, meta, answer.reasons if structured else None)
    if answer.items:
        raise typer.Exit(ExitCode.FINDINGS)


def _collect_first(ctx: typer.Context) -> None:
    """--live: one collection of the current context(s) before answering; a failure is exit 3."""
    from collectors.inventory.collector import collect_cluster
    from collectors.releases.catalog import kernel_pins
    from fleetctl.services import open_clients
    from store.errors import UnreachableError
    from store.migrate import open_store

    settings: Settings = ctx.obj
    clients = open_clients(settings.kubeconfig, [settings.context] if settings.context else None)
    with open_store(settings.db, create=False) as store:
        pins = kernel_pins(store)
        for client in clients:
            result = collect_cluster(client, store, pins, selectors=settings.pod_selectors())
            if result.error:
                raise UnreachableError(
                    result.error, where=f"--live: cluster {client.name}", hint="answer from the store without --live"
                )


def _print(
    items: list[NodeRow], fmt: str, meta: dict[str, Any], reasons: dict[tuple[str, str], HealthReason] | None = None
) -> None:
    if fmt == "json":
        typer.echo(to_json(listing("NodeList", node_items(items, reasons), **meta)))
    elif fmt == "yaml":
        typer.echo(to_yaml(listing("NodeList", node_items(items, reasons), **meta)).rstrip())
    elif fmt == "name":
        for item in items:
            typer.echo(f"node/{item.name}")
    elif fmt == "csv":
        typer.echo(to_csv(WIDE, [_cells(i, True) for i in items]))
    elif not items:
        err("No nodes match.")
    else:
        wide = fmt == "wide"
        typer.echo(table(WIDE if wide else COLUMNS, [_cells(i, wide) for i in items]))
