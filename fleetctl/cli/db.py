"""``fleetctl db``: where the store is, what it holds, and its schema migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from fleetctl.cli.options import DryRunOption, OutputOption, output_format
from fleetctl.console import say_if_created
from fleetctl.output import document, key_values, table, to_json, to_yaml
from fleetctl.settings import Settings

if TYPE_CHECKING:  # the database code loads when a command runs, not for --help
    from store.engine import Store

app = typer.Typer(help="Inspect and migrate the fleetctl database.", no_args_is_help=True)


@app.command("info")
def info(ctx: typer.Context, output: OutputOption = None) -> None:
    """Show the database URL (without its password), schema revision and row counts."""
    from store.migrate import open_store
    from store.stats import table_counts

    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    settings: Settings = ctx.obj
    with open_store(settings.db, create=False) as store:
        with store.read() as session:
            counts = table_counts(session)
        data = _info_document(store, counts)
    if fmt == "json":
        typer.echo(to_json(data))
    elif fmt == "yaml":
        typer.echo(to_yaml(data), nl=False)
    else:
        typer.echo(key_values({"URL": data["url"], "Backend": data["backend"], "Schema": data["revision"]}))
        typer.echo()
        typer.echo(table(["table", "rows"], sorted(counts.items())))


def _info_document(store: Store, counts: dict[str, int]) -> dict[str, Any]:
    from store.migrate import current_revision, head_revision

    path = store.url.sqlite_path
    return document(
        "DatabaseInfo",
        url=store.url.redacted(),
        backend=store.backend,
        path=str(path) if path else None,
        revision=current_revision(store),
        head=head_revision(),
        tables=counts,
    )


@app.command("upgrade")
def upgrade_cmd(ctx: typer.Context, dry_run: DryRunOption = False) -> None:
    """Create the store if there is none, and migrate its schema to this fleetctl's version."""
    from store.errors import StoreMissingError
    from store.migrate import current_revision, head_revision, open_store, pending_revisions, upgrade

    settings: Settings = ctx.obj
    if dry_run:
        try:
            store = open_store(settings.db, migrate=False, create=False)
        except StoreMissingError as exc:
            typer.echo(f"{exc.message}; db upgrade would create it at schema {head_revision()} (dry run)")
            return
        with store, store.translate_errors():
            pending = pending_revisions(current_revision(store))
        if pending:
            typer.echo(f"database {store.url} would be migrated through: {', '.join(pending)} (dry run)")
        else:
            typer.echo(f"database {store.url} is at the latest schema {head_revision()}; nothing to do (dry run)")
        return
    with open_store(settings.db, migrate=False) as store, store.translate_errors():
        say_if_created(store)
        before, after = upgrade(store)
    if before == after:
        typer.echo(f"database {store.url} is at the latest schema {after}; nothing to do")
    else:
        typer.echo(f"database {store.url} migrated from {before or 'empty'} to {after}")


@app.command("compact")
def compact_cmd(
    ctx: typer.Context,
    retain: Annotated[
        str,
        typer.Option("--retain", help="Keep this much history (90d, 12w, ...); older change rows and transitions go."),
    ] = "90d",
    dry_run: DryRunOption = False,
) -> None:
    """Drop history older than --retain, and nodes gone since before it."""
    from datetime import UTC, datetime

    from store.durations import parse_duration
    from store.migrate import open_store
    from store.retention import compact

    settings: Settings = ctx.obj
    cutoff = datetime.now(UTC) - parse_duration(retain, where="--retain")
    with open_store(settings.db, create=False) as store, store.read() if dry_run else store.write() as session:
        result = compact(session, before=cutoff, dry_run=dry_run)
    verb = "would drop" if dry_run else "dropped"
    typer.echo(
        f"{verb} {result.changes} change rows, {result.transitions} health transitions and {result.nodes} gone nodes older than {retain}"
        + (" (dry run)" if dry_run else "")
    )
