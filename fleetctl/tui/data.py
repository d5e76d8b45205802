"""The dashboard's data: what each view shows, read from the store and prepared in a worker
thread, so the UI thread only applies it. No Textual here; the screens reach the app through the
``Dashboard`` protocol, so no screen imports the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from rich.markup import escape

from fleetctl.tui.model import (
    COLUMNS,
    NONE,
    SORT_KEYS,
    WIDE_COLUMNS,
    Matrix,
    Totals,
    age,
    cells,
    kernels,
    key_of,
    matrix,
    totals,
)
from store.errors import FleetctlError

if TYPE_CHECKING:
    from store.engine import Store
    from store.query.reading import NodeRow


@dataclass
class Snapshot:
    """One refresh, prepared in the worker thread: the UI thread only applies it."""

    rows: dict[str, dict[str, str]]  # the shown nodes' cells, keyed, in display order
    widths: dict[str, int]
    totals: Totals | None
    matrix: Matrix | None
    kernels: list[tuple[str, bool, int]]
    fleet_size: int
    oldest: datetime | None
    error: str | None = None


MAX_WIDTH = 48


def prepare(
    fleet: list[NodeRow] | None,
    shown: list[NodeRow],
    sort_column: str,
    columns: list[str],
    *,
    descending: bool = False,
) -> Snapshot:
    """Everything the fleet view shows, computed off the UI thread (``fleet`` None: rows only)."""
    by = SORT_KEYS.get(sort_column, SORT_KEYS["name"])
    ordered = sorted(shown, key=by, reverse=descending)
    rows = {key_of(i): {c: v for c, v in cells(i).items() if c in columns} for i in ordered}
    labels = dict(WIDE_COLUMNS)
    widths = {c: min(MAX_WIDTH, max([len(labels[c]), *(len(r[c]) for r in rows.values())])) for c in columns}
    if fleet is None:
        return Snapshot(rows, widths, None, None, [], 0, None)
    return Snapshot(rows, widths, totals(fleet), matrix(fleet), kernels(fleet), len(fleet), None)


class Dashboard(Protocol):
    """What the screens ask of the dashboard app (``FleetApp`` is it); they read with this module's
    functions on its ``store``, in worker threads."""

    store: Store
    refresh_s: float
    write: bool
    clock: Callable[[], datetime]

    def act(self, run_id: int, what: str) -> str:
        """Pause, resume, abort or roll back the run; what happened, in a line."""
        ...


class OnScreen(Protocol):
    """A Textual screen or widget, as far as ``dashboard`` needs one (this module imports no Textual)."""

    @property
    def app(self) -> Any:
        """The running app."""
        ...


def dashboard(screen: OnScreen) -> Dashboard:
    """The app a screen belongs to, as the screens see it."""
    return cast(Dashboard, screen.app)


def refresh_every(app: Dashboard) -> float | None:
    """How often a view re-reads the store: the app's ``--refresh`` (at least every half second),
    or None for never (``--refresh 0``)."""
    return max(0.5, app.refresh_s) if app.refresh_s > 0 else None


def read_fleet(
    store: Store,
    now: datetime,
    where: str | None,
    sort_column: str = "name",
    columns: list[str] | None = None,
    *,
    fleet: bool = True,
    descending: bool = False,
) -> Snapshot:
    """The fleet view's data from the store, prepared (called in a worker thread).

    With ``fleet`` False (a new filter), only the filtered nodes are read: the totals, the
    matrix and the kernels describe the whole fleet and stay as they were.
    """
    from store.query.reading import read_nodes

    try:
        everything = read_nodes(store, where=None, selector=None, now=now) if fleet or not where else None
        shown = read_nodes(store, where=where, selector=None, now=now) if where else everything
    except FleetctlError as exc:
        error = f"{exc.message}" + (f"  ({exc.hint})" if exc.hint else "")
        return Snapshot({}, {}, None, None, [], 0, None, error=error)
    assert shown is not None
    snap = prepare(
        everything.items if everything else None,
        shown.items,
        sort_column,
        columns or [k for k, _ in COLUMNS],
        descending=descending,
    )
    snap.oldest = (everything or shown).oldest()
    return snap


def describe_node(store: Store, cluster: str, name: str) -> str:
    """The node view's text (Rich markup): ``describe node``'s sections, one under the other."""
    from fleetctl.nodereport import sections
    from store.query.facts_read import read_node

    found = read_node(store, name, cluster)
    if not found:
        return f"{cluster}/{name} is not in the store"
    lines: list[str] = []
    for part in sections(found[0]):
        lines.append(f"[b]{escape(part.title)}[/]")
        lines += [f"  {label:<17} {_shown(value)}" for label, value in part.pairs]
        lines += ["  " + "  ".join(_shown(c) for c in row) for row in part.rows]
        lines += [f"  {escape(note)}" for note in part.notes]
        if not (part.pairs or part.rows or part.notes):
            lines.append(f"  {NONE}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _shown(value: object) -> str:
    return NONE if value in (None, "") else escape(str(value))


def release_rows(store: Store) -> list[dict[str, str]]:
    """One row per catalog release (newest first), plus installed releases the catalog lacks."""
    from collectors.releases.catalog import ensure_catalog
    from store.releases import list_releases, nodes_per_release

    ensure_catalog(store)
    with store.read() as session:
        releases = list_releases(session)
        counts = nodes_per_release(session)
    rows, known = [], set()
    for behind, r in enumerate(releases):
        known.add(r.version)
        rows.append(
            {
                "release": r.version,
                "published": r.published_at.strftime("%Y-%m-%d") if r.published_at else NONE,
                "kernel": r.guest_kernel or NONE,
                "arches": ", ".join(r.arches or []) or NONE,
                "nodes": str(counts.get(r.version, 0)),
                "behind": str(behind) if counts.get(r.version) else "",
            }
        )
    for version, n in sorted(counts.items(), key=lambda kv: str(kv[0])):
        if version not in known:
            rows.append(
                {"release": version or NONE, "published": NONE, "kernel": NONE, "arches": NONE, "nodes": str(n),
                 "behind": "not in the catalog" if version else "unknown"}
            )  # fmt: skip
    return rows


def run_list(store: Store, now: datetime) -> list[dict[str, str]]:
    """The run list's rows, newest first, each with its shown state and progress."""
    from store.runs import list_runs, run_progress, shown_state

    counts = run_progress(store)
    out = []
    for r in list_runs(store):
        done, failed, total = counts.get(r.id or 0, (0, 0, 0))  # a stored run always has its id
        out.append(
            {
                "run": str(r.id), "name": r.name, "kind": r.kind, "target": r.target_version, "state": shown_state(r, now),
                "progress": f"{done}/{total}", "failed": str(failed), "age": age((now - r.created_at).total_seconds()),
            }
        )  # fmt: skip
    return out
