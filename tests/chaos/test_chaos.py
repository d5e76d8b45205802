"""The short chaos run of ``make test`` (the small fleet, fast time), and its audit comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import Chaos, ChaosConfig, unaudited


@pytest.mark.timeout(2400)  # a safety net: each phase ends on its run's own event, whatever the machine's speed
def test_a_short_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    lines: list[str] = []
    config = ChaosConfig(
        profile="small", seed=3, time_scale=50, kill_every=(0.5, 2.0), serve_kills=2, prometheus_outage_s=10,
        read_hold_s=5, phase_deadline_s=900, say=lines.append,
    )  # fmt: skip
    report = Chaos(config, tmp_path).run()
    assert not report.harness, "a safety deadline fired (a harness problem):\n" + "\n".join(lines + report.lines())
    assert report.ok, "\n".join(lines + report.lines())
    assert len(report.phases) == 2 and all(" done" in p for p in report.phases), report.phases
    assert report.facts["kills"]["executor SIGKILL"] >= 2 and report.facts["API errors injected"] > 0
    assert report.facts["long read transactions held"] >= 1
    assert report.facts["serve exits on SIGTERM"] and set(report.facts["serve exits on SIGTERM"]) == {0}


def test_the_audit_comparison_finds_a_write_without_its_row() -> None:
    requests = [
        {"verb": "patch", "resource": "nodes", "name": "n1", "status": 200},
        {"verb": "patch", "resource": "nodes", "name": "n1", "status": 200},
        {"verb": "create", "resource": "pods", "subresource": "eviction", "namespace": "a", "name": "p", "status": 201},
        {"verb": "create", "resource": "pods", "subresource": "eviction", "namespace": "a", "name": "q", "status": 429},
        {"verb": "create", "resource": "events", "namespace": "default", "name": "n1.fleetctl-ab12", "status": 201},
        {"verb": "update", "resource": "leases", "namespace": "kube-system", "name": "x", "status": 200},
        {"verb": "get", "resource": "nodes", "name": "n1", "status": None},
    ]
    rows = [("cordon", "node/n1", "ok"), ("uncordon", "node/n1", "pending"), ("event", "node/n1", "ok")]
    assert unaudited(requests, rows) == {("evict", "pod/a/p"): 1}  # the 429 changed nothing; leases are not audited
    assert unaudited(requests, [*rows, ("evict", "pod/a/p", "ok")]) == {}
    assert unaudited(requests, [*rows[1:], ("evict", "pod/a/p", "failed")]) == {
        ("node", "node/n1"): 1,
        ("evict", "pod/a/p"): 1,
    }
