"""``fleetctl rehearse PLAN``: run a plan on a simulated copy of the fleet before it touches the real one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetctl.cli.options import OutputOption, emit, output_format
from fleetctl.cli.upgrade import DowngradeOption, FileArg, load_plan_file, print_plan
from fleetctl.console import err
from fleetctl.exitcodes import ExitCode
from fleetctl.output import document
from fleetctl.settings import Settings
from store.durations import parse_duration
from store.errors import BadInputError

ARCHES = ("amd64", "arm64", "ppc64le", "s390x")


def rehearse(
    ctx: typer.Context,
    file: FileArg,
    time_scale: Annotated[
        float, typer.Option("--time-scale", help="Simulated seconds per real second (higher: faster, coarser).")
    ] = 20.0,
    build_duration: Annotated[
        str,
        typer.Option("--build-duration", help="How long a build pod runs; a copied build has this less its age left."),
    ] = "30m",
    regress: Annotated[
        list[str] | None,
        typer.Option(
            "--regress", help="Make the target release misbehave on this arch (repeatable): do gates stop it?"
        ),
    ] = None,
    no_gates: Annotated[bool, typer.Option("--no-gates", help="Do not run the plan's gates.")] = False,
    no_workloads: Annotated[
        bool, typer.Option("--no-workloads", help="Do not read pods and PDBs from the cluster; drain nodes empty.")
    ] = False,
    allow_downgrade: DowngradeOption = False,
    output: OutputOption = None,
) -> None:
    """Rehearse a plan on a simulated copy of the fleet: duration, waves, held-up drains, gate stops.

    The copy is the store's nodes plus the live cluster's pods and PodDisruptionBudgets (read
    only). Nothing is written to the cluster or the store. Exit 0 when the rehearsed run
    finishes with every node upgraded, 1 when it would stop, fail or skip nodes.
    """
    from fleetctl.rehearsal.report import print_text, to_document
    from fleetctl.rehearsal.runner import Rehearsal, RehearsalOptions
    from fleetctl.rehearsal.runner import rehearse as run_rehearsal
    from store.migrate import open_store

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    spec = load_plan_file(file, allow_downgrade)
    arches = tuple(regress or ())
    for arch in arches:
        if arch not in ARCHES:
            raise BadInputError(f"unknown arch {arch!r}", where="--regress", hint=f"use one of {', '.join(ARCHES)}")
    options = RehearsalOptions(
        time_scale=time_scale,
        build_seconds=parse_duration(build_duration, where="--build-duration").total_seconds(),
        regressions=arches,
        gates=not no_gates,
        workloads=not no_workloads,
        progress=err if sys.stderr.isatty() else (lambda _m: None),
    )
    clients = {} if no_workloads else _clients(settings.kubeconfig)
    with open_store(settings.db, create=False) as store:
        result = run_rehearsal(store, spec, clients, options)
    if not isinstance(result, Rehearsal):  # apply would refuse the plan: say why, rehearse nothing
        if fmt == "table":
            print_plan(result)
        else:
            emit(document("Rehearsal", name=spec.name, refusals=result.refusals), fmt)
        raise typer.Exit(ExitCode.FINDINGS)
    if fmt == "table":
        print_text(result, typer.echo)
    else:
        emit(to_document(result), fmt)
    if not result.completes:
        raise typer.Exit(ExitCode.FINDINGS)


def _clients(kubeconfig: Path) -> dict[str, Any]:
    """A read client per kubeconfig context; none when there is no kubeconfig (nodes are then drained empty)."""
    from clients.kube.config import context_names
    from fleetctl.services import open_clients

    if not kubeconfig.exists():
        return {}
    names, _ = context_names(kubeconfig)
    return {c.name: c for c in open_clients(kubeconfig, names, timeout=10.0)} if names else {}
