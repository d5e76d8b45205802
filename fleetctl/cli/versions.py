"""``fleetctl versions``, ``fleetctl history`` and ``fleetctl describe node``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from fleetctl.cli.options import OutputOption, WhereOption, emit, output_format, store_scope
from fleetctl.console import err
from fleetctl.output import NONE, document, key_values, listing, table
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
        emit(listing("VersionList", rows), fmt)
        return
    cells = [
        [
            r["kata"],
            r["arch"],
            (r["guestKernel"] or NONE) + (" (custom)" if r["customKernel"] else ""),
            r["nodes"],
            r["behindLatest"],
        ]
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
        emit(listing("ChangeList", rows), fmt)
        return
    if not rows:
        err(f"No changes in the last {since}.")
        return
    typer.echo(
        table(
            ["time", "node", "cluster", "fact", "old", "new"],
            [
                [r["at"][:19].replace("T", " "), r["node"], r["cluster"], r["fact"], _short(r["old"]), _short(r["new"])]
                for r in rows
            ],
        )
    )


def _short(text: str | None, width: int = 60) -> str | None:
    if text is None:
        return None
    return text if len(text) <= width else text[: width - 3] + "..."


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
            hint=f"add --cluster, one of: {', '.join(f['cluster'].name for f in found)}",
        )
    f = found[0]
    node, st = f["node"], f["state"]
    facts = {k: v for k, v in st.model_dump().items() if k not in ("node_id", "digest")}
    if fmt != "table":
        emit(
            document(
                "NodeDescription",
                name=node.name,
                cluster=f["cluster"].name,
                firstSeen=node.first_seen.isoformat(),
                goneAt=node.gone_at.isoformat() if node.gone_at else None,
                facts={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in facts.items()},
                checks=[c.model_dump(exclude={"node_id"}, mode="json") for c in f["checks"]],
                changes=[c.model_dump(exclude={"node_id", "id"}, mode="json") for c in f["changes"]],
                healthEvents=[t.model_dump(exclude={"node_id", "id"}, mode="json") for t in f["transitions"]],
                events=[e.model_dump(exclude={"node_id", "id"}, mode="json") for e in f["events"]],
                upgradeStep=f["step"].model_dump(mode="json") if f["step"] else None,
            ),
            fmt,
        )
        return
    typer.echo(
        key_values(
            {
                "Name": node.name,
                "Cluster": f["cluster"].name,
                "First seen": node.first_seen.isoformat(),
                "Gone": node.gone_at.isoformat() if node.gone_at else None,
            }
        )
    )
    typer.echo("\nKata:")
    typer.echo(
        _indent(
            key_values(
                {
                    "Release": st.kata_version,
                    "kata-deploy": st.kata_deploy_version,
                    "Commit": st.kata_commit,
                    "Label": st.kata_label,
                    "Guest kernel": f"{st.guest_kernel}{' (custom)' if st.custom_kernel else ''}",
                    "Hypervisor": f"{st.hypervisor or NONE} {st.hypervisor_version or ''}".strip(),
                    "Machine type": st.machine_type,
                    "Handlers": ", ".join(st.runtime_handlers or []) or None,
                }
            )
        )
    )
    typer.echo("\nHost:")
    typer.echo(
        _indent(
            key_values(
                {
                    "Arch": st.arch,
                    "Zone": st.zone,
                    "CPU": f"{(st.cpu_capacity or 0) / 1000:g}",
                    "Kernel": st.host_kernel,
                    "OS": st.os_image,
                    "Runtime": st.container_runtime,
                    "Kubelet": st.kubelet_version,
                    "Ready": st.ready,
                    "Cordoned": st.unschedulable,
                    "Conditions": ", ".join(st.conditions or []) or None,
                }
            )
        )
    )
    if st.drift or st.parse_problems:
        typer.echo("\nDrift:" if st.drift else "")
        for d in st.drift or []:
            typer.echo(f"  - {d}")
        for p in st.parse_problems or []:
            typer.echo(f"  ! {p}")
    typer.echo("\nChecks:")
    typer.echo(
        _indent(table(["code", "status", "message"], [[c.code, c.status, c.message] for c in f["checks"]]))
        if f["checks"]
        else "  <none>"
    )
    for c in f["checks"]:
        if c.status != "ok" and c.remediation:
            typer.echo(f"  {c.code}: {c.remediation}")
    typer.echo("\nChanges (newest first):")
    typer.echo(
        _indent(
            table(
                ["time", "fact", "old", "new"],
                [
                    [c.at.isoformat()[:19].replace("T", " "), c.fact, _short(c.old, 40), _short(c.new, 40)]
                    for c in f["changes"]
                ],
            )
        )
        if f["changes"]
        else "  <none>"
    )
    typer.echo("\nHealth events (newest first):")
    typer.echo(
        _indent(
            table(
                ["time", "code", "from", "to"],
                [
                    [t.at.isoformat()[:19].replace("T", " "), t.code, t.old_status, t.new_status]
                    for t in f["transitions"]
                ],
            )
        )
        if f["transitions"]
        else "  <none>"
    )
    typer.echo("\nEvents (newest first, as last collected):")
    typer.echo(
        _indent(
            table(
                ["last seen", "type", "reason", "object", "count", "message"],
                [
                    [
                        e.at.isoformat()[:19].replace("T", " "),
                        e.type,
                        e.reason,
                        e.object,
                        e.count,
                        _short(e.message, 70),
                    ]
                    for e in f["events"]
                ],
            )
        )
        if f["events"]
        else "  <none>"
    )
    typer.echo(f"\nUpgrade step: {f['step'].step} ({f['step'].state})" if f["step"] else "\nUpgrade step: <none>")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
