"""Options shared by several commands, declared once so they read the same everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from fleetctl.config import OUTPUT_FORMATS

if TYPE_CHECKING:
    from store.query.reading import Reader

OutputOption = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help=f"Output format: {'|'.join(OUTPUT_FORMATS)}. Overrides the global -o.",
        show_default=False,
    ),
]

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show what would change, and change nothing.")]
WhereOption = Annotated[str | None, typer.Option("--where", help="Only nodes matching this query (docs/queries.md).")]
MaxAgeOption = Annotated[
    str | None, typer.Option("--max-age", help="Fail with exit 3 when the data is older than this (5m, ...).")
]
LiveOption = Annotated[bool, typer.Option("--live", help="Collect from the cluster first, then answer.")]


def output_format(ctx: typer.Context, local: str | None, allowed: tuple[str, ...]) -> str:
    """The command's output format: its own ``-o``, else the global one; checked against ``allowed``."""
    from fleetctl.settings import Settings
    from store.errors import BadInputError

    settings: Settings = ctx.obj
    chosen = local or settings.output
    if chosen not in allowed:
        raise BadInputError(
            f"output format {chosen!r} is not available here", where="-o", hint=f"use one of {', '.join(allowed)}"
        )
    return chosen


def store_scope(ctx: typer.Context, store: Reader) -> str | None:
    """The cluster a store-read command answers for: the ``--context`` one (checked to be in
    the store, exit 2 otherwise), or None for every cluster."""
    from fleetctl.settings import Settings
    from store.errors import BadInputError
    from store.query.reading import cluster_names

    settings: Settings = ctx.obj
    if not settings.context:
        return None
    known = cluster_names(store)
    if settings.context not in known:
        has = f"; the store has: {', '.join(sorted(known))}" if known else ""
        raise BadInputError(
            f"the store has no cluster {settings.context!r}",
            where="--context",
            hint=f"collect it first: fleetctl --context {settings.context} collect{has}",
        )
    return settings.context


def emit(doc: dict[str, Any], fmt: str) -> None:
    """Print a document as JSON or YAML (``-o json|yaml``)."""
    from fleetctl.output import to_json, to_yaml

    typer.echo(to_json(doc) if fmt == "json" else to_yaml(doc).rstrip())
