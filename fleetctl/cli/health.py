"""``fleetctl health``: is anything unhealthy right now, and what do I do about it?"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from fleetctl.cli.options import MaxAgeOption, OutputOption, WhereOption, output_format, store_scope
from fleetctl.console import err
from fleetctl.exitcodes import ExitCode
from fleetctl.output import health_report, table, to_json, to_yaml
from fleetctl.settings import Settings

if TYPE_CHECKING:
    from store.query.facts_read import CheckRow

RANK = {"ok": 0, "unknown": 1, "warn": 2, "crit": 3}


def health(
    ctx: typer.Context,
    where: WhereOption = None,
    fail_on: Annotated[
        str, typer.Option("--fail-on", help="Exit 1 when any check is at or above this: unknown, warn or crit.")
    ] = "crit",
    max_age: MaxAgeOption = None,
    output: OutputOption = None,
) -> None:
    """A health summary, then one row per unhealthy node (-o wide: every failing check) and what to do."""
    from fleetctl.cli.nodes import freshness, read_answer
    from store.errors import BadInputError
    from store.migrate import open_store
    from store.query.facts_read import read_checks

    fmt = output_format(ctx, output, ("table", "wide", "json", "yaml", "junit"))
    if fail_on not in ("unknown", "warn", "crit"):
        raise BadInputError(f"{fail_on!r} is not a health status", where="--fail-on", hint="use unknown, warn or crit")
    settings: Settings = ctx.obj
    answer, now = read_answer(ctx, where, None, "health")
    meta = freshness(answer, max_age, now, settings.collect_interval)
    with open_store(settings.db, create=False) as store:
        checks = read_checks(store, where=where, now=datetime.now(UTC), cluster=store_scope(ctx, store))
    counts = dict.fromkeys(RANK, 0)
    for item in answer.items:
        counts[item.health] += 1
    failing = [c for c in checks if c.status != "ok"]
    failing.sort(key=lambda c: (-RANK[c.status], c.code, c.cluster, c.node))
    threshold = RANK[fail_on]
    findings = any(RANK[c.status] >= threshold for c in checks) or any(
        RANK[i.health] >= threshold for i in answer.items
    )
    if fmt in ("json", "yaml"):
        doc = health_report(failing, meta, nodes=len(answer.items), by_health=counts, fail_on=fail_on)
        typer.echo(to_json(doc) if fmt == "json" else to_yaml(doc).rstrip())
    elif fmt == "junit":
        typer.echo(_junit(checks, threshold))
    else:
        typer.echo(f"{len(answer.items)} nodes: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        if failing:
            typer.echo()
            if fmt == "wide":
                typer.echo(
                    table(
                        ["node", "cluster", "code", "status", "message"],
                        [[c.node, c.cluster, c.code, c.status, c.message] for c in failing],
                    )
                )
            else:
                typer.echo(table(["node", "cluster", "health", "checks", "message"], _per_node(failing)))
            typer.echo()
            typer.echo("What to do:")
            for codes, remedy in _remedies(failing):
                typer.echo(f"  {', '.join(codes)}: {remedy}")
        if not answer.items:
            err("No nodes match.")
    if findings:
        raise typer.Exit(ExitCode.FINDINGS)


def _remedies(failing: list[CheckRow]) -> list[tuple[list[str], str | None]]:
    """Each remediation once, with the codes it answers: without Prometheus, KATA001 to KATA006
    share one text, and it is said once."""
    by_text: dict[str | None, list[str]] = {}
    for code in sorted({c.code for c in failing}):
        remedy = next(c.remediation for c in failing if c.code == code)
        by_text.setdefault(remedy, []).append(code)
    return [(codes, remedy) for remedy, codes in by_text.items()]


def _per_node(failing: list[CheckRow]) -> list[list[str]]:
    """One row per node, worst first: its worst status, the checks at it, and the first one's
    message with how many more failing checks ``-o wide`` would show."""
    nodes: dict[tuple[str, str], list[CheckRow]] = {}
    for c in failing:  # already sorted worst first
        nodes.setdefault((c.cluster, c.node), []).append(c)
    rows = []
    for (cluster, node), checks in nodes.items():
        worst = checks[0].status
        at_worst = [c for c in checks if c.status == worst]
        more = len(checks) - 1
        message = checks[0].message + (f" (+{more} more: -o wide)" if more else "")
        rows.append([node, cluster, worst, ",".join(c.code for c in at_worst), message])
    rows.sort(key=lambda r: (-RANK[r[2]], r[1], r[0]))
    return rows


def _junit(checks: list[CheckRow], threshold: int) -> str:
    from xml.sax.saxutils import escape, quoteattr  # only for JUnit: it pulls in urllib and ssl

    by_code: dict[str, list[CheckRow]] = {}
    for c in checks:
        by_code.setdefault(c.code, []).append(c)
    failures = sum(1 for c in checks if RANK[c.status] >= threshold)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name="fleetctl health" tests="{len(checks)}" failures="{failures}">',
    ]
    for code, items in sorted(by_code.items()):
        bad = sum(1 for c in items if RANK[c.status] >= threshold)
        lines.append(f'  <testsuite name={quoteattr(code)} tests="{len(items)}" failures="{bad}">')
        for c in items:
            name = quoteattr(f"{c.cluster}/{c.node}")
            if RANK[c.status] >= threshold:
                lines.append(f"    <testcase classname={quoteattr(code)} name={name}>")
                lines.append(
                    f"      <failure type={quoteattr(c.status)} message={quoteattr(c.message)}>{escape(c.remediation or '')}</failure>"
                )
                lines.append("    </testcase>")
            else:
                lines.append(f"    <testcase classname={quoteattr(code)} name={name}/>")
        lines.append("  </testsuite>")
    lines.append("</testsuites>")
    return "\n".join(lines)
