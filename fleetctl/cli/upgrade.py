"""``fleetctl upgrade``: plan, apply, status, pause, resume, abort, rollback and history."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fleetctl.cli.options import OutputOption, emit, output_format
from fleetctl.console import err
from fleetctl.exitcodes import ExitCode
from fleetctl.output import NONE, listing, plan_document, run_document, run_items, table
from fleetctl.services import check_clusters, execute_run, executor_options, kube_clients, resume_run
from fleetctl.settings import Settings
from store.durations import format_duration
from store.errors import BadInputError, PlanRefusedError
from store.states import Outcome, RunState, Step, StepState, WaveState

if TYPE_CHECKING:
    from store.engine import Store
    from store.runs import RunView
    from upgrades.executor import ExecutorOptions
    from upgrades.planner import Plan

app = typer.Typer(help="Roll a Kata release out wave by wave, with gates, budgets and rollback.", no_args_is_help=True)

FileArg = Annotated[str, typer.Argument(help="The plan file (YAML; see docs/upgrades.md).", show_default=False)]
RunArg = Annotated[int, typer.Argument(help="The run's number (fleetctl upgrade history).", show_default=False)]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DowngradeOption = Annotated[bool, typer.Option("--allow-downgrade", help="Allow nodes to move to an older release.")]
PromOption = Annotated[
    str | None,
    typer.Option(
        "--prometheus",
        help="Prometheus URL for the gates of every cluster (default: the config's [prometheus] and its per-context urls; cluster_label still applies).",
    ),
]
PollOption = Annotated[str, typer.Option("--poll", help="How often to poll the cluster while waiting.")]
LeaseOption = Annotated[
    str, typer.Option("--lease-ttl", help="The run lock's time to live (renewed at a third of it).")
]


def load_plan_file(path: str, allow_downgrade: bool) -> Any:
    from dataclasses import replace

    from upgrades.planfile import load_plan

    spec = load_plan(path)
    return replace(spec, allow_downgrade=True) if allow_downgrade else spec


def print_plan(plan: Plan) -> None:
    typer.echo(f"plan {plan.spec.name}: Kata {plan.spec.target} on {len(plan.nodes)} nodes in {len(plan.waves)} waves")
    typer.echo(
        f"maxUnavailable {plan.max_unavailable} ({plan.unavailable_now} already unavailable); failure budget "
        f"{plan.run_budget} per run, on breach {plan.spec.budget.on_breach}; "
        f"estimated {format_duration(timedelta(seconds=round(plan.estimate_s)))}"
    )
    rows = [
        [i, len(w), ", ".join(sorted({c.zone or NONE for c in w})), ", ".join(sorted({c.arch or NONE for c in w})),
         ", ".join(c.name for c in w[:4]) + (f" (+{len(w) - 4})" if len(w) > 4 else "")]
        for i, w in enumerate(plan.waves, start=1)
    ]  # fmt: skip
    if rows:
        typer.echo("\n" + table(["wave", "nodes", "zones", "arches", "names"], rows))
    if plan.excluded:
        by_reason: dict[str, int] = {}
        for e in plan.excluded:
            by_reason[e.reason] = by_reason.get(e.reason, 0) + 1
        typer.echo("\nexcluded: " + ", ".join(f"{n} {r}" for r, n in sorted(by_reason.items())))
        shown = [e for e in plan.excluded if e.reason != "outside-selector"] or plan.excluded
        typer.echo(
            table(
                ["name", "cluster", "reason", "detail"],
                [[e.node.name, e.node.cluster, e.reason, e.detail] for e in shown[:50]],
            )
        )
        if len(shown) > 50:
            typer.echo(f"... and {len(shown) - 50} more (-o json lists all)")
    if plan.custom_kernel:
        typer.echo(
            f"\n{len(plan.custom_kernel)} nodes use a custom guest kernel: they are upgraded, and verify fails a node "
            "that no longer reports a custom kernel afterwards (kata-deploy replaces /opt/kata only)"
        )
    for refusal in plan.refusals:
        typer.echo(f"\nREFUSED: {refusal}")


def plan(
    ctx: typer.Context, file: FileArg, allow_downgrade: DowngradeOption = False, output: OutputOption = None
) -> None:
    """Dry run: the waves, every excluded node with its reason, and the estimated duration."""
    from store.migrate import open_store
    from upgrades.launch import plan_from_store

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    spec = load_plan_file(file, allow_downgrade)
    with open_store(settings.db, create=False) as store:
        result = plan_from_store(store, spec)
        install = _install_check(store, settings, spec, result)
    if fmt == "table":
        print_plan(result)
        for cluster, line in install.items():
            typer.echo(f"install on {cluster}: {line}")
    else:
        emit({**plan_document(result), "install": install}, fmt)
    if result.refusals:
        raise typer.Exit(ExitCode.FINDINGS)


def _install_check(store: Store, settings: Settings, spec: Any, result: Any) -> dict[str, str]:
    """How each cluster of the plan installs (a deployment the plan cannot upgrade joins the
    refusals); a cluster the plan cannot reach now is said to be unchecked, as plan works offline."""
    from store.errors import FleetctlError

    clusters = {c.cluster for c in result.nodes}
    try:
        found, findings = check_clusters(store, kube_clients(settings, clusters), spec, result)
    except PlanRefusedError as exc:
        result.refusals.append(exc.message)
        return {}
    except FleetctlError as exc:
        return dict.fromkeys(sorted(clusters), f"not checked ({exc.message}); apply checks it before it starts")
    for finding in findings:
        err(f"pre-flight {finding.line()}")
    return {c: d.describe() for c, d in found.items()}


def _execute(
    store: Store,
    settings: Settings,
    run_id: int,
    options: ExecutorOptions,
    clients: dict[str, Any] | None = None,
    *,
    view: RunView | None = None,
) -> None:
    from store.runs import read_run
    from upgrades.deployment import helm_lines

    with _ctrl_c_interrupts(options):
        state = execute_run(store, settings, run_id, options, clients, view=view)
    view = read_run(store, run_id)
    if state == Outcome.INTERRUPTED:
        wave = next((w.number for w in view.waves if w.state != WaveState.DONE), len(view.waves))
        err(f"run {run_id} interrupted at wave {wave}; resume with: fleetctl upgrade resume {run_id}")
        raise typer.Exit(ExitCode.INTERRUPTED)
    failed = sum(1 for s in view.steps if s.state == StepState.FAILED)
    typer.echo(f"run {run_id}: {state}" + (f" ({view.run.message})" if view.run.message else ""))
    for line in helm_lines(view):
        err(line)
    if state != Outcome.DONE or failed:
        raise typer.Exit(ExitCode.FINDINGS)


@contextlib.contextmanager
def _ctrl_c_interrupts(options: ExecutorOptions) -> Iterator[None]:
    """The first Ctrl-C stops the run at the next step boundary (every node at a recorded step,
    none left cordoned mid-flight without a record); a second one quits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(_sig: int, _frame: object) -> None:
        err("stopping at the next step boundary (Ctrl-C again to quit at once)")
        options.interrupt.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise BadInputError(
            "this changes the cluster and needs confirmation", where="--yes", hint="pass --yes to go ahead"
        )
    if not typer.confirm(question):
        raise typer.Exit(ExitCode.OK)


def apply(
    ctx: typer.Context,
    file: FileArg,
    yes: YesOption = False,
    allow_downgrade: DowngradeOption = False,
    prometheus: PromOption = None,
    poll: PollOption = "1s",
    lease_ttl: LeaseOption = "30s",
) -> None:
    """Store a run of the plan, then execute it here until it is done, paused or aborted."""
    from store.migrate import open_store
    from upgrades.launch import create_run_from_plan, plan_from_store
    from upgrades.rundoc import gates_need_prometheus

    settings: Settings = ctx.obj
    spec = load_plan_file(file, allow_downgrade)
    with open_store(settings.db, create=False) as store:
        result = plan_from_store(store, spec)
        if result.refusals:
            raise PlanRefusedError(
                "; ".join(result.refusals), where=file, hint="fleetctl upgrade plan FILE shows the details"
            )
        need = gates_need_prometheus(spec.gates.enabled, spec.gates.checks)
        options = executor_options(settings, prometheus, poll, lease_ttl, need_prometheus=need)
        clients = kube_clients(settings, {c.cluster for c in result.nodes})  # a bad kubeconfig fails before writing
        found, findings = check_clusters(store, clients, spec, result)  # a RollingUpdate kata-deploy refuses here
        for cluster, deployment in found.items():
            err(f"{cluster}: installs by {deployment.describe()}")
        for finding in findings:
            err(f"pre-flight {finding.line()}")
        _confirm(yes, f"Upgrade {len(result.nodes)} nodes to Kata {spec.target} in {len(result.waves)} waves?")
        run_id = create_run_from_plan(store, result, {c: d.document() for c, d in found.items()})
        typer.echo(f"run {run_id} created: {len(result.nodes)} nodes in {len(result.waves)} waves")
        _execute(store, settings, run_id, options, clients)


def resume(
    ctx: typer.Context,
    run: RunArg,
    prometheus: PromOption = None,
    poll: PollOption = "1s",
    lease_ttl: LeaseOption = "30s",
) -> None:
    """Continue a paused (or interrupted) run here."""
    from store.migrate import open_store

    settings: Settings = ctx.obj
    with open_store(settings.db, create=False) as store:
        options, view = resume_run(store, settings, run, prometheus, poll, lease_ttl)
        _execute(store, settings, run, options, view=view)


def pause(ctx: typer.Context, run: RunArg) -> None:
    """Ask the run to pause: no new node starts; nodes in flight finish."""
    from store.migrate import open_store
    from upgrades.controls import request_pause

    settings: Settings = ctx.obj
    with open_store(settings.db, create=False) as store:
        done = request_pause(store, run)
    typer.echo(f"run {run}: {done.state}" + (" (the executor stops starting nodes)" if done.live else ""))


def abort(ctx: typer.Context, run: RunArg, poll: PollOption = "1s", lease_ttl: LeaseOption = "30s") -> None:
    """Stop the run for good: nodes in flight finish and are uncordoned; no other node starts."""
    from store.migrate import open_store
    from upgrades.controls import request_abort

    settings: Settings = ctx.obj
    with open_store(settings.db, create=False) as store:
        done = request_abort(store, run)
        typer.echo(f"run {run}: {done.state}" + (" (the executor stops starting nodes)" if done.live else ""))
        if not done.live:  # nobody runs it: finish its in-flight nodes here
            _execute(store, settings, run, executor_options(settings, None, poll, lease_ttl, need_prometheus=False))


def rollback(
    ctx: typer.Context, run: RunArg, yes: YesOption = False, poll: PollOption = "1s", lease_ttl: LeaseOption = "30s"
) -> None:
    """Take the run's changed nodes back to their previous release, through the same per-node flow."""
    from store.migrate import open_store
    from store.runs import read_run
    from upgrades.launch import create_rollback

    settings: Settings = ctx.obj
    with open_store(settings.db, create=False) as store:
        view = read_run(store, run)
        _confirm(yes, f"Roll back run {run} ({view.run.name})?")
        options = executor_options(settings, None, poll, lease_ttl, need_prometheus=False)
        rollback_id = create_rollback(store, run)
        typer.echo(f"run {rollback_id} created: rolls back run {run}")
        _execute(store, settings, rollback_id, options)


def status(
    ctx: typer.Context,
    run: Annotated[int | None, typer.Argument(help="The run (default: the newest).")] = None,
    output: OutputOption = None,
) -> None:
    """A run's waves, nodes, gates and budget."""
    from store.migrate import open_store
    from store.query.facts_read import stale_summary
    from store.runs import read_run, shown_state

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    with open_store(settings.db, create=False) as store:
        view = read_run(store, run)
        upgraded = [(s.cluster, s.node) for s in view.steps if s.state == StepState.DONE]
        stale = stale_summary(store, upgraded) if upgraded else None
    r = view.run
    state = shown_state(r)
    doc = run_document(view, state, stale)
    if fmt != "table":
        emit(doc, fmt)
        return
    typer.echo(
        f"run {r.id} {r.name} ({r.kind}): {state}, target {r.target_version}" + (f": {r.message}" if r.message else "")
    )
    if state == RunState.INTERRUPTED:
        err(f"no executor holds run {r.id}; resume it with: fleetctl upgrade resume {r.id}")
    rows = []
    for w in view.waves:
        steps = view.wave_steps(w.number)
        done = sum(1 for s in steps if s.state == StepState.DONE)
        failed = sum(1 for s in steps if s.state == StepState.FAILED)
        rows.append(
            [
                w.number,
                w.state,
                f"{done}/{len(steps)}",
                failed,
                w.gate_state or NONE,
                (w.gate_message or "")[:80] or NONE,
            ]
        )
    typer.echo("\n" + table(["wave", "state", "done", "failed", "gate", "gate-message"], rows))
    if stale is not None:  # as of the last collection
        typer.echo(
            f"\nof the {len(upgraded)} upgraded nodes, {stale.nodes} still run {stale.sandboxes} Kata sandboxes started "
            f"before their install"
            + (f" ({stale.unknown} unknown)" if stale.unknown else "")
            + ("" if stale.nodes else ": every upgraded node is fully on the release")
        )
    busy = [
        s
        for s in view.steps
        if s.state not in (StepState.DONE, StepState.PENDING) or (s.state == StepState.PENDING and s.step != Step.CLAIM)
    ]
    if busy:
        typer.echo(
            "\n"
            + table(
                ["name", "cluster", "wave", "step", "state", "message"],
                [[s.node, s.cluster, s.wave, s.step, s.state, s.message[:80] or NONE] for s in busy],
            )
        )


def history(ctx: typer.Context, output: OutputOption = None) -> None:
    """Every run, newest first."""
    from store.migrate import open_store
    from store.runs import list_runs, shown_state

    settings: Settings = ctx.obj
    fmt = output_format(ctx, output, ("table", "json", "yaml"))
    with open_store(settings.db, create=False) as store:
        runs = list_runs(store)
    if fmt != "table":
        emit(listing("UpgradeRunList", run_items(runs)), fmt)
        return
    typer.echo(
        table(
            ["run", "name", "kind", "target", "state", "created", "message"],
            [
                [
                    r.id,
                    r.name,
                    r.kind,
                    r.target_version,
                    shown_state(r),
                    r.created_at.isoformat()[:19],
                    (r.message or NONE)[:60],
                ]
                for r in runs
            ],
        )
    )


for _command in (plan, apply, status, pause, resume, abort, rollback, history):
    app.command(_command.__name__)(_command)
