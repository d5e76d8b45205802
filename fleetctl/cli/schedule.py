"""``fleetctl schedule``: plans that ``fleetctl serve`` rolls out in maintenance windows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from fleetctl.cli.options import OutputOption, emit, output_format
from fleetctl.output import NONE, document, listing, schedule_fields, table
from fleetctl.settings import Settings
from store.durations import parse_duration

app = typer.Typer(help="Schedule rollouts in maintenance windows (fleetctl serve runs them).", no_args_is_help=True)

RefArg = Annotated[str, typer.Argument(help="The schedule's name or number (fleetctl schedule list).")]


@app.command("add")
def add(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="The plan file (YAML; see docs/upgrades.md).", show_default=False)],
    window: Annotated[
        str,
        typer.Option(
            "--window",
            help="When the window opens: cron ('0 22 * * 1-5') or an RRULE ('FREQ=WEEKLY;BYDAY=SA;BYHOUR=1').",
        ),
    ],
    duration: Annotated[str, typer.Option("--duration", help="How long each opening lasts (4h, 90m).")],
    tz: Annotated[str, typer.Option("--tz", help="The window's IANA time zone.")] = "UTC",
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Dates to skip, YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD (repeatable)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The schedule's name (default: the plan's).")] = None,
    output: OutputOption = None,
) -> None:
    """Store the plan with its window; the plan's own window, if any, is replaced."""
    from store.migrate import open_store
    from store.schedules import add_schedule
    from upgrades.planfile import load_plan
    from upgrades.scheduling import make_window
    from upgrades.window import openings

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    spec = load_plan(file)
    seconds = parse_duration(duration, where="--duration").total_seconds()
    win = make_window(window, seconds, tz, list(exclude or []))
    with open_store(settings.db, create=False) as store:
        row = add_schedule(
            store, name=name or spec.name, plan=spec.source, window=win.schedule, duration_s=win.duration_s,
            timezone=win.timezone, exclude=list(win.exclude),
        )  # fmt: skip
    upcoming = openings(win, datetime.now(UTC), 1)
    if fmt != "table":
        emit(document("Schedule", **schedule_fields(row)), fmt)
        return
    first = f"; it first opens {upcoming[0][0]:%Y-%m-%d %H:%M}Z" if upcoming else ""
    typer.echo(f"schedule {row.id} ({row.name}) added{first}. fleetctl serve starts its runs.")


@app.command("list")
def list_cmd(ctx: typer.Context, output: OutputOption = None) -> None:
    """Every schedule, with its window and its last run."""
    from store.migrate import open_store
    from store.schedules import list_schedules

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    with open_store(settings.db, create=False) as store:
        items = [schedule_fields(s) for s in list_schedules(store)]
    if fmt != "table":
        emit(listing("ScheduleList", items), fmt)
        return
    typer.echo(
        table(
            ["id", "name", "target", "window", "duration", "tz", "last run", "message"],
            [
                [
                    i["id"],
                    i["name"],
                    i["target"],
                    i["window"].replace("\n", " "),
                    i["duration"],
                    i["timeZone"],
                    i["lastRun"] or NONE,
                    (i["message"] or NONE)[:60],
                ]
                for i in items
            ],
        )
    )


@app.command("remove")
def remove(ctx: typer.Context, ref: RefArg) -> None:
    """Delete a schedule. Its runs stay; a run in progress is paused or aborted with fleetctl upgrade."""
    from store.migrate import open_store
    from store.schedules import remove_schedule

    settings: Settings = ctx.obj
    with open_store(settings.db, create=False) as store:
        row = remove_schedule(store, ref)
    typer.echo(f"schedule {row.id} ({row.name}) removed")


@app.command("next")
def next_cmd(
    ctx: typer.Context,
    ref: Annotated[str | None, typer.Argument(help="One schedule (default: all).")] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=1000, help="Openings per schedule.")] = 5,
    output: OutputOption = None,
) -> None:
    """The next openings of each schedule's window, in UTC and in the window's time zone."""
    from zoneinfo import ZoneInfo

    from store.migrate import open_store
    from store.schedules import get_schedule, list_schedules
    from upgrades.scheduling import window_of
    from upgrades.window import openings

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    with open_store(settings.db, create=False) as store:
        rows = [get_schedule(store, ref)] if ref else list_schedules(store)
    now = datetime.now(UTC)
    items = []
    for row in rows:
        zone = ZoneInfo(row.timezone)
        for opens, closes in openings(window_of(row), now, count):
            items.append(
                {"schedule": row.name, "opens": opens.isoformat(), "closes": closes.isoformat(),
                 "local": f"{opens.astimezone(zone):%a %Y-%m-%d %H:%M %Z}"}
            )  # fmt: skip
    if fmt != "table":
        emit(listing("OpeningList", items), fmt)
        return
    typer.echo(
        table(
            ["schedule", "opens (utc)", "closes (utc)", "local time"],
            [
                [i["schedule"], i["opens"][:16].replace("T", " "), i["closes"][:16].replace("T", " "), i["local"]]
                for i in items
            ],
        )
    )
