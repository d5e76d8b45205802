"""Two simulated clusters with the same node names, for Prometheus-per-cluster tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from simulator.server import ServerOptions, Simulator
from tests.support.prometheus import instant
from tests.support.sim import admin, wait_for

NAMES = ("east", "west")
UP = 'up{job="kata-monitor"}'


@contextmanager
def two_clusters(tmp_path: Path) -> Iterator[dict[str, Simulator]]:
    """``east`` and ``west``: small fleets of the same seed, so the same node names in both."""
    with ExitStack() as stack:
        out = {}
        for name in NAMES:
            options = ServerOptions(
                profile="small", seed=11, time_scale=50, out_dir=tmp_path / name, bookmark_seconds=0.3,
                churn=False, cluster_name=name,
            )  # fmt: skip
            out[name] = stack.enter_context(Simulator(options))
        yield out


def monitored(sim: Simulator) -> set[str]:
    """The nodes that run kata-monitor (a target each)."""
    return {n for n, t in sim.world.nodes.items() if t.spec.kata_monitor}


def labelled_targets(sims: dict[str, Simulator], path: Path) -> Path:
    """One file_sd file with every cluster's kata-monitor targets, each group labelled ``cluster``."""
    groups: list[dict[str, Any]] = []
    for name, sim in sims.items():
        for group in json.loads(sim.targets.read_text()):
            groups.append({**group, "labels": {**group["labels"], "cluster": name}})
    path.write_text(json.dumps(groups))
    return path


def break_monitors(sim: Simulator) -> None:
    """Every kata-monitor of ``sim`` answers 500 (up == 0)."""
    admin(sim, "/_sim/faults", "PATCH", {"kataMonitorDown": sorted(monitored(sim))})


def wait_up(url: str, query: str, nodes: set[str], value: str) -> None:
    """Wait until ``query`` (an ``up`` selector) is ``value`` for exactly ``nodes``."""
    wait_for(
        lambda: {s["metric"]["node"] for s in instant(url, query) if s["value"][1] == value} == nodes,
        what=f"{query} == {value} for {len(nodes)} nodes at {url}",
    )
