"""``python -m simulator`` and ``fleetctl sim serve``: run a simulated fleet until stopped."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import NoReturn

from simulator.controlplane import KUBE_VERSION, ControlPlaneError
from simulator.faults import ScenarioError, load_scenario
from simulator.fleet import PROFILES
from simulator.installmode import DEFAULT_INSTALL_LABEL, InstallMode
from simulator.server import ServerOptions, Simulator


class _Parser(argparse.ArgumentParser):
    """argparse with fleetctl's error format (``error: WHERE: WHAT`` and a hint), not its usage dump."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {self.prog}: {message}\n  hint: see `{self.prog} --help`\n")
        raise SystemExit(2)


def parser() -> argparse.ArgumentParser:
    """The command line (shared with ``fleetctl sim serve``)."""
    p = _Parser(
        prog="python -m simulator",
        description="Serve a simulated Kata fleet: the Kubernetes API and kata-monitor metrics.",
    )
    p.add_argument("--profile", choices=PROFILES, default="seed", help="fleet shape (default: seed, about 400 nodes)")
    p.add_argument("--nodes", type=int, help="override the profile's node count")
    p.add_argument("--seed", type=int, default=42, help="random seed: the same seed gives the same fleet (default 42)")
    p.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: any free port)")
    p.add_argument("--cluster-name", default="sim", help="kubeconfig cluster and context name (default sim)")
    p.add_argument("--kubeconfig-out", type=Path, help="where to write the kubeconfig (default: a new temp dir)")
    p.add_argument("--out-dir", type=Path, help="where to write the kubeconfig and the Prometheus target file")
    p.add_argument("--scenario", type=Path, help="a scenario file of faults to inject (docs/simulator.md)")
    p.add_argument(
        "--backend",
        choices=("memory", "kube-apiserver"),
        default="memory",
        help="memory: our own in-memory API server (default, fast); kube-apiserver: a real control plane "
        "(kube-apiserver, etcd, controller-manager, scheduler) built from tools/k8s, with the fleet on it",
    )
    p.add_argument(
        "--install-mode",
        choices=[m.value for m in InstallMode],
        default=InstallMode.ONDELETE.value,
        help="how kata-deploy is deployed: ondelete (default: an OnDelete DaemonSet), rolling (a RollingUpdate "
        "DaemonSet), job (per-node install Jobs from a ConfigMap template, no DaemonSet), label (an installer "
        "DaemonSet per release, selected by a node label)",
    )
    p.add_argument("--helm", action="store_true", help="kata-deploy's objects carry Helm's ownership marks")
    p.add_argument(
        "--install-label",
        default=DEFAULT_INSTALL_LABEL,
        help=f"the node label the label mode's installers select on (default {DEFAULT_INSTALL_LABEL})",
    )
    return p


def options_from(args: argparse.Namespace) -> ServerOptions:
    """Validate the arguments into server options; exits 2 with a clear message when they are bad."""
    if args.nodes is not None and args.nodes < 1:
        _fail("--nodes must be at least 1")
    if args.time_scale <= 0:
        _fail("--time-scale must be greater than 0")
    if not 0 <= args.port <= 65535:
        _fail("--port must be between 0 and 65535")
    if not args.install_label or "=" in args.install_label:
        _fail("--install-label must be a label key")
    faults = None
    if args.scenario is not None:
        try:
            faults = load_scenario(args.scenario)
        except ScenarioError as exc:
            _fail(f"scenario: {exc}")
    return ServerOptions(
        profile=args.profile,
        nodes=args.nodes,
        seed=args.seed,
        time_scale=args.time_scale,
        port=args.port,
        cluster_name=args.cluster_name,
        kubeconfig_out=args.kubeconfig_out,
        out_dir=args.out_dir,
        faults=faults,
        backend=args.backend,
        install_mode=InstallMode(args.install_mode),
        helm=args.helm,
        install_label=args.install_label,
    )


def _fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(2)


async def serve(options: ServerOptions) -> None:
    """Serve on this loop until SIGINT or SIGTERM."""
    sim = Simulator(options)
    try:
        await sim.start_async()
    except ControlPlaneError as exc:
        sys.stderr.write(f"error: --backend kube-apiserver: {exc}\n")
        raise SystemExit(3) from None
    fleet = sim.world.fleet
    print(
        f"simulator: {len(fleet.nodes)} nodes, {fleet.vcpus} vCPUs, profile {fleet.profile}, seed {fleet.seed}, time scale {options.time_scale}"
    )
    print(
        f"backend:    {options.backend}"
        + (f" (Kubernetes {KUBE_VERSION}; admin /_sim: {sim.admin_url})" if sim.kube else "")
    )
    if options.install_mode is not InstallMode.ONDELETE or options.helm:
        print(f"install:    {options.install_mode}" + (" (Helm)" if options.helm else ""))
    print(f"api:        {sim.url}")
    print(f"kubeconfig: {sim.kubeconfig}")
    print(f"targets:    {sim.targets}  (Prometheus file_sd)")
    print("press Ctrl-C to stop", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop_async()


def run(p: argparse.ArgumentParser, argv: list[str] | None) -> None:
    """Parse ``argv`` with ``p`` and serve until stopped."""
    args = p.parse_args(argv)
    asyncio.run(serve(options_from(args)))


def serve_command(prog: str, argv: list[str]) -> None:
    """The simulator's command line under another name (``fleetctl sim serve``)."""
    p = parser()
    p.prog = prog
    run(p, argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m simulator``."""
    run(parser(), argv)
    return 0
