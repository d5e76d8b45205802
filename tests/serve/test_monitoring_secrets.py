"""``/metrics`` of a ``fleetctl serve`` over a collected simulated fleet holds no secret and no
unbounded label: not the API token, nothing of the kubeconfig, not the store's URL (a path with a
password-like part in it), no pod name of the simulated world, and every label but cluster and node
takes a few values, however many nodes and pods the fleet has."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from simulator import resources as r
from simulator.server import Simulator
from tests.support.fleet import Fleet
from tests.support.serve import Serve
from tests.support.sim import wait_for

PASSWORD = "pw-Hunter2-s3cr3t-Zq9"  # in the store's path, as a password would be in a database URL
PER_NODE_LABELS = {"cluster", "node"}
MOST_VALUES = 16  # a label other than cluster and node: a handful of values, whatever the fleet's size


def _leaves(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        return [leaf for value in doc.values() for leaf in _leaves(value)]
    if isinstance(doc, list):
        return [leaf for value in doc for leaf in _leaves(value)]
    return [str(doc)] if doc is not None else []


def _scrape(serve: Serve) -> str | None:
    """/metrics once serve has collected and exports the fleet (per-node series included)."""
    status, text = serve.get("/metrics")
    return text if status == 200 and "fleetctl_node_info{" in text else None


def test_metrics_hold_no_secret_and_no_unbounded_label(fresh_sim: Simulator, tmp_path: Path) -> None:
    home = tmp_path / PASSWORD
    home.mkdir()
    fleet = Fleet(fresh_sim, home)
    assert PASSWORD in fleet.db
    serve = Serve(fleet, "serve")
    try:
        text = wait_for(lambda: _scrape(serve), timeout=120, what="serve's fleet series")
    finally:
        serve.stop()

    secrets = [fresh_sim.token, fleet.db, str(home), PASSWORD, "BEGIN", "Bearer", "password"]
    kubeconfig = yaml.safe_load(Path(fleet.kubeconfig).read_text())
    secrets += [leaf for leaf in _leaves(kubeconfig) if len(leaf) >= 16]  # certificates, keys, tokens, server URLs
    assert len(secrets) > 8, "the kubeconfig has no long values to look for"
    leaked = [s[:24] for s in secrets if s in text]
    assert not leaked, f"secrets on /metrics: {leaked}"

    pods = {name for (_, name), _ in fresh_sim.world.store.scan(r.PODS)}
    assert len(pods) > len(fresh_sim.world.nodes), "the simulated world has few pods"
    values: dict[str, set[str]] = defaultdict(set)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for label, value in sample.labels.items():
                values[label].add(value)
    every = set().union(*values.values())
    assert not pods & every, f"pod names on /metrics: {sorted(pods & every)[:5]}"
    assert not [p for p in pods if p in text], "a pod name is somewhere in /metrics"
    assert len(values["node"]) == len(fresh_sim.world.nodes)  # the per-node series are there
    wide = {label: sorted(v) for label, v in values.items() if label not in PER_NODE_LABELS and len(v) > MOST_VALUES}
    assert not wide, f"labels with more than {MOST_VALUES} values: {wide}"
    assert not [v for v in every if " " in v or len(v) > 64], "a label value that reads like a message"
