"""``fleetctl versions``, ``fleetctl history`` and ``fleetctl describe node``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from fleetctl.cli.options import OutputOption, WhereOption, emit, output_format, store_scope
from fleetctl.console import err
from fleetctl.nodereport import Section, sections, short
from fleetctl.output import NONE, change_items, key_values, listing, node_description, table, version_items
from fleetctl.settings import Settings

describe_app = typer.Typer(help="Show everything fleetctl knows about one object.", no_args_is_help=True)


def versions(
    ctx: typer.Context,
    where: WhereOption = None,
    output: OutputOption = None,
) -> None:
    """Nodes per Kata release x arch x guest kernel, and how far behind the newest release each is."""
    from store.migrate import open_store
    from store.query.facts_read import read_versions

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    with open_store(settings.db, create=False) as store:
        rows = read_versions(store, where=where, now=datetime.now(UTC), cluster=store_scope(ctx, store))
    if fmt != "table":
        emit(listing("VersionList", version_items(rows)), fmt)
        return
    cells = [
        [r.kata, r.arch, (r.guest_kernel or NONE) + (" (custom)" if r.custom_kernel else ""), r.nodes, r.behind_latest]
        for r in rows
    ]
    typer.echo(table(["kata", "arch", "guest-kernel", "nodes", "behind-latest"], cells))


def history(
    ctx: typer.Context,
    node: Annotated[str | None, typer.Argument(help="One node's changes (default: every node's).")] = None,
    since: Annotated[str, typer.Option("--since", help="How far back: 24h, 7d, ...")] = "24h",
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="Only this cluster (kubeconfig context name).")
    ] = None,
    output: OutputOption = None,
) -> None:
    """What changed, newest first: one row per changed fact, old and new."""
    from store.durations import parse_duration
    from store.migrate import open_store
    from store.query.facts_read import read_history

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    start = datetime.now(UTC) - parse_duration(since, where="--since")
    with open_store(settings.db, create=False) as store:
        rows = read_history(store, node=node, cluster=cluster or store_scope(ctx, store), since=start)
    if fmt != "table":
        emit(listing("ChangeList", change_items(rows)), fmt)
        return
    if not rows:
        err(f"No changes in the last {since}.")
        return
    typer.echo(
        table(
            ["time", "node", "cluster", "fact", "old", "new"],
            [
                [r.at.isoformat()[:19].replace("T", " "), r.node, r.cluster, r.fact, short(r.old), short(r.new)]
                for r in rows
            ],
        )
    )


@describe_app.command("node")
def describe_node(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The node's name.")],
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="The cluster, when several have a node of this name.")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Facts, checks with remediation, change history, health events and the current upgrade step."""
    from store.errors import BadInputError
    from store.migrate import open_store
    from store.query.facts_read import read_node

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    with open_store(settings.db, create=False) as store:
        found = read_node(store, name, cluster or store_scope(ctx, store))
    if not found:
        raise BadInputError(
            f"node {name!r} is not in the store",
            where="describe node",
            hint="check the name with `fleetctl nodes`, or run `fleetctl collect`",
        )
    if len(found) > 1:
        raise BadInputError(
            f"node {name!r} exists in several clusters",
            where="describe node",
            hint=f"add --cluster, one of: {', '.join(f.cluster for f in found)}",
        )
    f = found[0]
    if fmt != "table":
        emit(node_description(f), fmt)
        return
    typer.echo(_render(sections(f)))


def _render(parts: list[Section]) -> str:
    """The sections as text: the first one's facts at the top, each other under its title."""
    blocks = []
    for i, part in enumerate(parts):
        lines = [] if i == 0 else [f"{part.title}:"]
        body = []
        if part.pairs:
            body.append(key_values(dict(part.pairs)))
        if part.header:
            body.append(table(list(part.header), part.rows) if part.rows else NONE)
        body += part.notes
        if not body:
            body.append(NONE)
        lines += [_indent(b) if i else b for b in body]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
