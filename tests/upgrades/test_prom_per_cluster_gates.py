"""A gate of a run on cluster ``east`` measures east's metrics only, through ``upgrade apply``:
with a Prometheus per cluster (``[prometheus.contexts.*] url``) and with one Prometheus and a
``cluster`` label. ``west`` has the same node names and every kata-monitor down, so reading its
metrics for east's nodes would fail the gate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from simulator.server import Simulator
from tests.support.fleet import NEWEST, Fleet, names, where_names
from tests.support.promclusters import NAMES, UP, break_monitors, labelled_targets, monitored, two_clusters, wait_up
from tests.support.prometheus import prometheus_server

pytestmark = pytest.mark.prometheus
GATES = {
    "soak": "0s",
    "checks": [
        {
            "name": "kata-monitor-up",
            "query": 'min(up{job="kata-monitor", node=~"{{nodes}}"})',
            "successCondition": "value >= 1",
            "interval": "1s",
            "count": 1,
        }
    ],
}


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[dict[str, Simulator]]:
    with two_clusters(tmp_path) as out:
        yield out


def apply_on_east(fleet: Fleet, config: str, name: str) -> tuple[int, str, str]:
    """Upgrade one amd64 node of east with the gate; (exit code, run state, the wave's gate message)."""
    path = fleet.tmp / f"{name}.toml"
    path.write_text(config)
    plan = fleet.plan_file(name, selector={"where": where_names(names(fleet, "amd64", 1))}, gates=GATES)
    result = fleet.apply(plan, env={"FLEETCTL_CONFIG": str(path)})
    status = fleet.status()
    return result.returncode, status["state"], str(status["waves"][0].get("gateMessage") or "")


def test_a_gate_reads_its_own_clusters_prometheus(sims: dict[str, Simulator], tmp_path: Path) -> None:
    east = Fleet(sims["east"], tmp_path)
    with ExitStack() as stack:
        urls = {name: stack.enter_context(prometheus_server(sim.targets)) for name, sim in sims.items()}
        break_monitors(sims["west"])
        wait_up(urls["east"], UP, monitored(sims["east"]), "1")
        wait_up(urls["west"], UP, monitored(sims["west"]), "0")
        own = "".join(f'[prometheus.contexts.{n}]\nurl = "{urls[n]}"\n' for n in NAMES)
        code, state, message = apply_on_east(east, own, "own")
        assert (code, state) == (0, "done"), message
        swapped = f'[prometheus.contexts.east]\nurl = "{urls["west"]}"\n'  # the control: east pointed at west's
        code, state, message = apply_on_east(east, swapped, "swapped")
        assert (code, state) == (1, "paused") and "misses successCondition" in message, message


def test_a_gate_reads_its_own_clusters_label(sims: dict[str, Simulator], tmp_path: Path) -> None:
    east = Fleet(sims["east"], tmp_path)
    with prometheus_server(labelled_targets(sims, tmp_path / "both.json")) as url:
        break_monitors(sims["west"])
        wait_up(url, 'up{job="kata-monitor", cluster="east"}', monitored(sims["east"]), "1")
        wait_up(url, 'up{job="kata-monitor", cluster="west"}', monitored(sims["west"]), "0")
        code, state, message = apply_on_east(east, f'[prometheus]\nurl = "{url}"\ncluster_label = "cluster"\n', "own")
        assert (code, state) == (0, "done"), message
        unlabelled = f'[prometheus]\nurl = "{url}"\n'  # the control: without the label, west's series count too
        code, state, message = apply_on_east(east, unlabelled, "unlabelled")
        assert (code, state) == (1, "paused") and "misses successCondition" in message, message
        node = names(east, "amd64", 1)
        conflict = east.plan_file(
            "conflict",
            selector={"where": where_names(node)},
            gates={**GATES, "checks": [{**GATES["checks"][0], "name": "mine", "query": 'min(up{cluster="west"})'}]},  # type: ignore[dict-item]
        )
        config = tmp_path / "label.toml"
        config.write_text(f'[prometheus]\nurl = "{url}"\ncluster_label = "cluster"\n')
        result = east.apply(conflict, env={"FLEETCTL_CONFIG": str(config)})
        assert result.returncode == 2 and "'mine'" in result.stderr + result.stdout, result.stderr
        assert east.installed()[node[0]] != NEWEST  # refused before any node was touched
