"""``upgrade apply`` of a gated plan on the real control plane: the real DaemonSet controller (OnDelete)
makes each node's kata-deploy pod again, the real scheduler places replacement pods, and real
PodDisruptionBudgets kept by the disruption controller pace the drains. Then a rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.server import Simulator
from tests.support.fleet import NEWEST, Fleet, where_names
from tests.support.prometheus import instant
from tests.support.sim import kubectl, wait_for

pytestmark = pytest.mark.xdist_group("kube")
GATE = {
    "soak": "1s",
    "checks": [
        {
            "name": "scrape-failures",
            "query": 'max(rate(kata_monitor_scrape_failed_count{node=~"{{wave_nodes}}"}[30s]))',
            "successCondition": "value < 0.1",
            "interval": "1s",
            "count": 2,
        }
    ],
}


def chosen(kube: Simulator) -> list[str]:
    """Nodes not yet at the newest release, per arch, from the end of each arch's list: the other modules of
    the tier take theirs from the start (tests/kube/test_rbac.py's ``fresh``), and one of their installs may
    still be finishing when this test starts."""
    out = []
    for arch, count in (("amd64", 5), ("s390x", 2), ("ppc64le", 2)):
        names = [
            n
            for n, t in sorted(kube.world.nodes.items(), reverse=True)
            if t.spec.arch == arch and t.installed != NEWEST
        ]
        out += names[:count]
    return sorted(out)


def test_a_gated_rollout_and_its_rollback(kube: Simulator, kube_prometheus: str, tmp_path: Path) -> None:
    # Two good scrapes of every kata-monitor, as the VM checks' rate() needs: after one, a node's health is
    # unknown, and the plan's minHealthyPercent refuses the rollout.
    scraped = '(count_over_time(up{job="kata-monitor"}[1m]) >= 2) and (min_over_time(up{job="kata-monitor"}[1m]) == 1)'
    wait_for(lambda: len(instant(kube_prometheus, scraped)) == len(kube.world.nodes),
             what="two good scrapes of every kata-monitor")  # fmt: skip
    fleet = Fleet(kube, tmp_path, prometheus=kube_prometheus)
    nodes = chosen(kube)
    before = {n: kube.world.nodes[n].installed for n in nodes}
    deletions = fleet.deletions()
    plan = fleet.plan_file(
        "real", selector={"where": where_names(nodes)}, waves={"sizes": [2, 3], "maxUnavailable": 3},
        gates=GATE, drain={"timeout": "5m"},
        verify={"smoke": {"runtimeClass": {"amd64": "kata-qemu", "s390x": "kata-qemu", "ppc64le": "kata-qemu"},
                          "timeout": "2m"}},
    )  # fmt: skip
    result = fleet.apply(plan)
    if result.returncode != 0:  # say which nodes were not healthy, and why
        result.stderr += "\n" + fleet.run("health", "-o", "wide", "--where", where_names(nodes)).stdout
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    status = fleet.status()
    assert status["state"] == "done" and {n["state"] for n in status["nodes"]} == {"done"}
    assert [w["gate"] for w in status["waves"]] == ["passed"] * len(status["waves"]), status["waves"]
    installed = {n: kube.world.nodes[n].installed for n in nodes}
    assert installed == dict.fromkeys(nodes, NEWEST), _why_not_installed(kube, installed, status)
    after = fleet.deletions()
    assert {n: after.get(n, 0) - deletions.get(n, 0) for n in nodes} == dict.fromkeys(nodes, 1)  # installed once
    assert not set(nodes) & set(fleet.cordoned())
    pdbs = json.loads(kubectl(kube, "get", "pdb", "-n", "apps", "-o", "json").stdout)["items"]
    assert all(p["status"]["currentHealthy"] >= p["status"]["desiredHealthy"] for p in pdbs)

    rolled = fleet.run("upgrade", "rollback", "1", "--yes", "--poll", "0.05s")
    assert rolled.returncode == 0, rolled.stderr[-3000:] + rolled.stdout[-3000:]
    assert {n: kube.world.nodes[n].installed for n in nodes} == before
    again = fleet.deletions()
    assert {n: again.get(n, 0) - deletions.get(n, 0) for n in nodes} == dict.fromkeys(nodes, 2)
    assert not set(nodes) & set(fleet.cordoned())
    history = json.loads(fleet.run("upgrade", "history", "-o", "json").stdout)["items"]
    assert [(i["kind"], i["state"]) for i in history] == [("rollback", "done"), ("upgrade", "rolled-back")]


def _why_not_installed(kube: Simulator, installed: dict[str, str | None], status: dict[str, object]) -> str:
    """For a node the run calls done but the world does not: its kata-deploy pods (image, phase, age,
    deletion) and install counts, to tell a stale DaemonSet template from a pod run twice."""
    wrong = [n for n, v in installed.items() if v != NEWEST]
    pods = json.loads(kubectl(kube, "get", "pods", "-A", "-l", "name=kata-deploy", "-o", "json").stdout)["items"]
    lines = [f"not at {NEWEST}: {wrong}; run status: {status['state']}"]
    for p in pods:
        if p["spec"].get("nodeName") in wrong:
            m = p["metadata"]
            lines.append(
                f"  {m['name']} on {p['spec']['nodeName']}: {p['spec']['containers'][0]['image']} "
                f"{p['status'].get('phase')} created {m['creationTimestamp']} deleting {m.get('deletionTimestamp')}"
            )
    lines.append(f"  installs: {[kube.world.stats.installs[n] for n in wrong]}")
    return "\n".join(lines)
