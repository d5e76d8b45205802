"""``fleetctl releases``: the Kata release catalog, and who runs what."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from fleetctl.cli.options import OutputOption, output_format
from fleetctl.console import say_if_created
from fleetctl.output import document, release_items, table, to_json, to_yaml
from fleetctl.settings import Settings

app = typer.Typer(help="The Kata release catalog: sync it, list it with node counts.", no_args_is_help=True)


@app.command("sync")
def sync(
    ctx: typer.Context,
    source: Annotated[
        str | None,
        typer.Option("--from", help="GitHub releases JSON: an https:// URL or a file. Default: the bundled catalog."),
    ] = None,
) -> None:
    """Update the catalog from a release feed (or the bundled catalog, offline)."""
    from collectors.releases.feed import bundled_catalog, load_feed
    from store.migrate import open_store
    from store.releases import upsert_releases

    settings: Settings = ctx.obj
    releases = load_feed(source) if source else bundled_catalog()
    with open_store(settings.db) as store, store.write() as session:
        say_if_created(store)
        if source:  # keep the bundled pins underneath whatever the feed says
            upsert_releases(session, bundled_catalog(), source="bundled", at=datetime.now(UTC))
        result = upsert_releases(session, releases, source="feed" if source else "bundled", at=datetime.now(UTC))
    typer.echo(
        f"releases synced from {source or 'the bundled catalog'}: {result.added} added, {result.updated} updated, {result.unchanged} unchanged"
    )


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    output: OutputOption = None,
    prereleases: Annotated[bool, typer.Option("--prereleases", help="Include pre-releases.")] = False,
) -> None:
    """Show each release with its guest kernel pin, hypervisors, arches and the nodes on it."""
    from collectors.releases.catalog import ensure_catalog
    from store.migrate import open_store
    from store.releases import list_releases, nodes_per_release

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "wide", "json", "yaml"))
    with open_store(settings.db, create=False) as store:
        ensure_catalog(store)
        with store.read() as session:
            releases = list_releases(session, include_prereleases=prereleases)
            counts = nodes_per_release(session)
    items = release_items(releases, counts)
    if fmt in ("json", "yaml"):
        doc = document("ReleaseList", items=items)
        typer.echo(to_json(doc) if fmt == "json" else to_yaml(doc).rstrip())
        return
    headers = ["version", "published", "guest-kernel", "qemu", "nodes"]
    if fmt == "wide":
        headers += ["clh", "firecracker", "arches"]
    rows = []
    for item in items:
        row = [item["version"], item["published"], item["guestKernel"], item["hypervisors"].get("qemu"), item["nodes"]]
        if fmt == "wide":
            row += [
                item["hypervisors"].get("cloud-hypervisor"),
                item["hypervisors"].get("firecracker"),
                ",".join(item["arches"]),
            ]
        rows.append(row)
    typer.echo(table(headers, rows))
    unknown = counts.get(None, 0)
    if unknown:
        typer.echo(
            f"\n{unknown} node(s) run a release fleetctl cannot tell; see `fleetctl nodes` for their drift.", err=True
        )
