"""``fleetctl demo``: the product on a simulated fleet, no cluster needed (what ``make demo`` runs).

It starts the simulator in this process, collects it into a fresh SQLite store, keeps
collecting in the background, writes an example upgrade plan, and opens the dashboard with
write access, so a rollout can be started, watched, paused and rolled back.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fleetctl.console import err
from fleetctl.settings import Settings
from store.durations import parse_duration
from upgrades.plandoc import plan_doc

if TYPE_CHECKING:
    from simulator import Simulator
    from store.engine import Store

PLAN = plan_doc(
    "demo-to-newest",
    {
        "target": "4.1.0",
        "waves": {"sizes": [1, 5, "10%", "25%"], "order": "zone-arch", "maxUnavailable": "10%"},
        "drain": {"timeout": "2m", "onTimeout": "skip"},
        "gates": {"enabled": False},
        "failureBudget": {"perWave": 1, "perRun": "2%", "onBreach": "pause"},
    },
)


def guided_plan(scrape_s: float) -> dict[str, Any]:
    """The guided scenario (with Prometheus): one zone, amd64 then ppc64le then s390x, a gate on
    kata-monitor's scrape failures after each wave (its window fits the demo's scrape interval);
    the demo makes 4.1.0 fail on s390x."""
    from fleetctl.demo_scenario import gate

    return plan_doc(
        "demo-guided",
        {
            "target": "4.1.0",
            "selector": {"zones": ["eu-de-1"]},
            "waves": {"sizes": [2, 10, "25%"], "order": "arch-zone", "maxUnavailable": "10%"},
            "drain": {"timeout": "2m", "onTimeout": "skip"},
            "gates": gate(scrape_s, "{{wave_nodes}}"),
            "failureBudget": {"perWave": 1, "perRun": "2%", "onBreach": "pause"},
        },
    )


def demo(
    ctx: typer.Context,
    profile: Annotated[
        str, typer.Option("--profile", help="The simulated fleet: seed (400 nodes) or small (30).")
    ] = "seed",
    time_scale: Annotated[float, typer.Option("--time-scale", help="Simulated seconds per real second.")] = 10.0,
    interval: Annotated[str, typer.Option("--interval", help="How often to collect in the background.")] = "10s",
    no_tui: Annotated[
        bool, typer.Option("--no-tui", help="Set everything up, print where it is, and exit (no dashboard).")
    ] = False,
    screenshot: Annotated[
        str | None,
        typer.Option("--screenshot", help="Collect, save the dashboard as an SVG at this path, and exit."),
    ] = None,
    headless: Annotated[
        bool,
        typer.Option(
            "--headless",
            help="Run the guided scenario with no terminal: roll out, stop at an s390x regression's gate, roll back.",
        ),
    ] = False,
) -> None:
    """A simulated fleet, a SQLite store, background collection and the dashboard, in one command."""
    import yaml

    from collectors.inventory.collector import RetryPolicy, collect_cluster
    from collectors.releases.catalog import kernel_pins
    from fleetctl.services import health_runner, open_clients
    from simulator import ServerOptions, Simulator
    from store.migrate import open_store

    if profile not in ("seed", "small"):
        raise typer.BadParameter("use seed or small", param_hint="--profile")
    every = parse_duration(interval, where="--interval").total_seconds()
    work = Path(tempfile.mkdtemp(prefix="fleetctl-demo-"))
    url = f"sqlite:///{work / 'fleet.db'}"
    plan = work / "upgrade-plan.yaml"
    plan.write_text(yaml.safe_dump(PLAN, sort_keys=False))
    settings: Settings = ctx.obj
    progress = err if sys.stderr.isatty() else (lambda _m: None)
    progress(f"starting the simulated '{profile}' fleet (time x{time_scale:g})...")
    options = ServerOptions(
        profile=profile, time_scale=time_scale, out_dir=work / "sim", cluster_name="demo", lean_metrics=True
    )  # the families fleetctl reads: a seed fleet is scraped every second on whatever machine runs the demo
    if headless:
        with Simulator(options) as sim, open_store(url) as store:
            _headless(sim, store)
        return
    with ExitStack() as stack:
        sim = stack.enter_context(Simulator(options))
        store = stack.enter_context(open_store(url))
        settings = dataclasses.replace(settings, db=url, kubeconfig=sim.kubeconfig, context=None)
        client = open_clients(sim.kubeconfig)[0]
        pins = kernel_pins(store)
        prometheus, scrape_s = _start_prometheus(stack, sim, progress)
        progress("collecting...")
        first = collect_cluster(client, store, pins, retry=RetryPolicy(base=0.05))
        if first.error:
            raise typer.Exit(3)
        health = health_runner(settings, prometheus)  # without Prometheus: Kubernetes checks only
        health(store, client)
        typer.echo(f"demo fleet: {first.nodes} nodes, {first.pods} pods in {first.seconds:.1f}s")
        typer.echo(f"  store:      {url}")
        typer.echo(f"  kubeconfig: {sim.kubeconfig}")
        typer.echo(f"  plan:       {plan}")
        typer.echo(
            f"  prometheus: {prometheus} (a scrape every {scrape_s:g}s)"
            if prometheus
            else "  prometheus: not installed, so VM health and gates are unknown (apt-get install prometheus)"
        )
        if screenshot:
            _screenshot(store, Path(screenshot))
            typer.echo(f"  screenshot: {screenshot}")
            return
        if no_tui or not (sys.stdin.isatty() and sys.stderr.isatty()):  # the dashboard draws on stderr
            typer.echo("(no terminal or --no-tui: the simulator stops as the demo ends)")
            return
        base = f".venv/bin/fleetctl --db {url} --kubeconfig {sim.kubeconfig}"
        if prometheus:
            guide = _guide(sim, work, base, prometheus, scrape_s)
        else:
            guide = "\n".join(
                [
                    "Try, from another terminal while the dashboard runs (u: upgrades):",
                    f"  1. {base} rehearse {plan}    # first, on a simulated copy",
                    f"  2. {base} upgrade apply {plan} --yes",
                ]
            )
        typer.echo(guide)
        typer.echo("  (the dashboard opens with this guide; g reopens it, ? lists the keys)")
        stop = threading.Event()

        def keep_collecting() -> None:
            while not stop.wait(every):
                if not collect_cluster(client, store, pins, retry=RetryPolicy(base=0.05)).error:
                    health(store, client)

        collector = threading.Thread(target=keep_collecting, name="demo-collect", daemon=True)
        collector.start()
        try:
            from fleetctl.services import executor_for
            from fleetctl.tui.app import FleetApp

            interrupt = threading.Event()  # set on quit: a run executed here stops at its next step boundary
            executor = executor_for(store, settings, prometheus, interrupt)
            app = FleetApp(store, refresh_s=2.0, write=True, executor=executor, guide=guide, interrupt=interrupt)
            try:
                app.run()
            finally:
                app.wait_for_runs(err)  # the screen is restored: the simulator serves the run until it stops
        finally:
            stop.set()
            err("stopping the simulated fleet and Prometheus (the dashboard is closed)...")


def _guide(sim: Simulator, work: Path, base: str, prometheus: str, scrape_s: float) -> str:
    """Write the guided plan, make its release misbehave on s390x; the steps to follow."""
    import yaml

    guided = work / "guided-plan.yaml"
    guided.write_text(yaml.safe_dump(guided_plan(scrape_s), sort_keys=False))
    target = str(guided_plan(scrape_s)["spec"]["target"])
    sim.add_health_regression(target, "s390x")
    return "\n".join(
        [
            f"The guided scenario (Kata {target} is broken on s390x in this demo); from another terminal:",
            f"  1. {base} rehearse {guided} --regress s390x    # where would the gates stop it?",
            f"  2. {base} upgrade apply {guided} --yes --prometheus {prometheus}",
            "  3. watch the waves in the dashboard (u): amd64, then ppc64le, then s390x, whose gate pauses the run",
            "  4. roll back: in the upgrades view select the run and press b (or: upgrade rollback RUN --yes)",
        ]
    )


def _screenshot(store: Store, path: Path) -> None:
    """The dashboard on the collected fleet, saved as an SVG (the README's picture)."""
    import asyncio

    from fleetctl.tui.app import FleetApp

    async def shoot() -> None:
        app = FleetApp(store, refresh_s=3600.0, write=False)
        async with app.run_test(size=(150, 44)) as pilot:
            for _ in range(4):
                await app.workers.wait_for_complete()
                await pilot.pause()
            app.save_screenshot(filename=path.name, path=str(path.parent.resolve()))

    path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot())


def _headless(sim: Simulator, store: Store) -> None:
    """The guided scenario, narrated on stdout; exit 1 unless the gate stopped it at the first wave
    with s390x nodes and the rollback restored every node."""
    from fleetctl.demo_scenario import run_scenario

    with ExitStack() as stack:
        prometheus, scrape_s = _start_prometheus(stack, sim, typer.echo)
        outcome = run_scenario(sim, store, prometheus, typer.echo, scrape_s=scrape_s)
    typer.echo(outcome.summary())
    if not outcome.as_designed:
        raise typer.Exit(1)


def _start_prometheus(stack: ExitStack, sim: Simulator, say: Callable[[str], None]) -> tuple[str | None, float]:
    """Debian's Prometheus scraping the simulated kata-monitors at an interval this fleet and
    machine can serve, once every target has two good scrapes; (None, 0) when it is not installed."""
    from fleetctl.demo_scenario import scrape_targets, wait_until_scraped
    from simulator import prometheus_binary, prometheus_server, scrape_interval_for

    if not prometheus_binary():
        return None, 0.0
    targets = scrape_targets(sim.targets)
    scrape_s = scrape_interval_for(targets)
    say(f"starting Prometheus: {targets} kata-monitor targets, a scrape every {scrape_s:g}s...")
    url = stack.enter_context(prometheus_server(sim.targets, interval=f"{scrape_s:g}s"))
    wait_until_scraped(url, targets, scrape_s, say)
    return url, scrape_s
