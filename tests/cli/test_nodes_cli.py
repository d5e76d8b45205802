"""`fleetctl nodes` and `fleetctl query` on a store the collector filled from the simulator (both databases)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from simulator.server import Simulator
from tests.support.cli import assert_clean_error
from tests.support.cli import fleetctl as fleetctl_subprocess
from tests.support.cli import fleetctl_in_process as fleetctl  # messages and codes; one subprocess test below


@pytest.fixture
def filled(fresh_sim: Simulator, db_url: str) -> tuple[Simulator, str]:
    result = fleetctl("--kubeconfig", str(fresh_sim.kubeconfig), "--db", db_url, "collect")
    assert result.returncode == 0, result.stderr
    return fresh_sim, db_url


def test_nodes_json_is_an_enveloped_list_matching_the_simulator(filled: tuple[Simulator, str]) -> None:
    sim, db = filled
    result = fleetctl_subprocess("--db", db, "nodes", "-o", "json")  # the one subprocess, as a user runs it
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["apiVersion"], doc["kind"]) == ("fleetctl.io/v1", "NodeList")
    assert doc["metadata"]["dataAgeSeconds"] >= 0
    truth = sim.world.truth()
    assert {i["name"]: i["kata"]["version"] for i in doc["items"]} == {n: t["installed"] for n, t in truth.items()}
    assert {i["name"] for i in doc["items"] if i["customKernel"]} == {n for n, t in truth.items() if t["customKernel"]}
    assert "data from" in result.stderr and result.stdout.lstrip().startswith("{")
    # Collected without Prometheus: unknown, and why, with the checks at that status.
    first = next(i for i in doc["items"] if i["health"] == "unknown")
    assert first["healthReason"] == {
        "checks": ["KATA001", "KATA002", "KATA003", "KATA004", "KATA005", "KATA006"],
        "message": "no Prometheus configured: VM health is unknown",
    }, first


def test_nodes_table_follows_kubectl_conventions(filled: tuple[Simulator, str]) -> None:
    _, db = filled
    out = fleetctl("--db", db, "nodes", "--where", "arch = s390x", "--sort-by", "kata").stdout
    lines = out.splitlines()
    assert lines[0].split()[0] == "NAME" and lines[0].split()[-1] == "AGE"
    assert all(" s390x " in line for line in lines[1:])
    assert "\x1b[" not in out  # no ANSI codes in a pipe
    rows = list(csv.reader(io.StringIO(fleetctl("--db", db, "nodes", "-o", "csv").stdout)))
    assert rows[0][0] == "NAME" and len(rows) == 31


def test_query_exit_codes(filled: tuple[Simulator, str]) -> None:
    _, db = filled
    found = fleetctl("--db", db, "query", "custom_kernel")
    assert found.returncode == 1 and found.stdout.startswith("node/")
    none = fleetctl("--db", db, "query", "arch = arm64")
    assert none.returncode == 0 and none.stdout == ""
    assert fleetctl("--db", db, "query", "--count", "arch = ppc64le").stdout.strip() == "5"
    bad = fleetctl("--db", db, "query", "arch = s390x and kata <")
    assert_clean_error(bad, 2)
    assert "^" in bad.stderr and "expected a value" in bad.stderr
    stale = fleetctl("--db", db, "nodes", "--max-age", "0s")
    assert_clean_error(stale, 3)
    assert "over --max-age 0s" in stale.stderr


def test_label_selectors_like_kubectl(filled: tuple[Simulator, str]) -> None:
    sim, db = filled
    out = fleetctl(
        "--db", db, "nodes", "-l", "kubernetes.io/arch in (ppc64le),!confidentialcontainers.org/peer-pods", "-o", "name"
    ).stdout.split()
    assert sorted(out) == sorted(
        f"node/{n}" for n, t in sim.world.nodes.items() if t.spec.arch == "ppc64le" and not t.spec.peer_pods
    )
    bad = fleetctl("--db", db, "nodes", "-l", "a=b=c")
    assert_clean_error(bad, 2)


def test_an_empty_store_says_to_collect_first(sqlite_url: str) -> None:
    result = fleetctl("--db", sqlite_url, "nodes")
    assert_clean_error(result, 3)
    assert "fleetctl collect" in result.stderr


@pytest.mark.parametrize("text", ["x" * 5000, "zone = ünïcödé", "name = 'a' or 1=1 --"])
def test_huge_odd_and_hostile_queries_are_clean_errors_or_harmless(filled: tuple[Simulator, str], text: str) -> None:
    _, db = filled
    result = fleetctl("--db", db, "query", text)
    assert result.returncode in (0, 2) and "Traceback" not in result.stderr


def test_health_summary_fail_on_and_junit(filled: tuple[Simulator, str]) -> None:
    import xml.etree.ElementTree as ET

    sim, db = filled
    first = fleetctl("--db", db, "health")
    assert first.returncode == 0, first.stderr  # unknown is not a finding at the default --fail-on crit
    summary = first.stdout.splitlines()[0]  # collected without Prometheus: never ok
    assert summary.startswith("30 nodes: 0 ok, ") and summary.endswith(", 0 crit"), summary
    # warn: peer-pod nodes whose Kata is not the release their Cloud API Adaptor (v0.21.0) pins (KATA015)
    assert "no Prometheus configured: VM health is unknown" in first.stdout
    remedies = first.stdout.split("What to do:\n")[1].splitlines()
    assert sum("[prometheus] url" in line for line in remedies) == 1, remedies  # said once, for all six codes
    assert any(line.startswith("  KATA001, KATA002, KATA003, KATA004, KATA005, KATA006: ") for line in remedies)
    # Break a node's install, then collect again: drift (warn) and a missing handler (crit).
    import json as _json

    from kubernetes import client

    from tests.support.sim import api_client

    core = client.CoreV1Api(api_client(sim))
    node = core.read_node("kata-s390x-0001")
    node.status.runtime_handlers = [client.V1NodeRuntimeHandler(name="runc")]
    core.replace_node_status("kata-s390x-0001", node)
    assert fleetctl("--kubeconfig", str(sim.kubeconfig), "--db", db, "collect").returncode == 0
    crit = fleetctl("--db", db, "health")
    assert crit.returncode == 1
    assert "KATA013" in crit.stdout and "handler kata-qemu missing" in crit.stdout and "What to do:" in crit.stdout
    warn_only = fleetctl("--db", db, "health", "--where", "arch = ppc64le", "--fail-on", "warn")  # no peer pods
    assert warn_only.returncode == 0
    junit = fleetctl("--db", db, "health", "-o", "junit")
    suites = ET.fromstring(junit.stdout)
    assert suites.get("failures") == "1"
    failure = suites.find(".//testcase[@name='sim/kata-s390x-0001']/failure")
    assert failure is not None and failure.get("type") == "crit"
    report = _json.loads(fleetctl("--db", db, "health", "-o", "json").stdout)
    assert report["kind"] == "HealthReport" and report["metadata"]["nodesByHealth"]["crit"] == 1


def test_versions_counts_match_the_simulator(filled: tuple[Simulator, str]) -> None:
    sim, db = filled
    doc = json.loads(fleetctl("--db", db, "versions", "-o", "json").stdout)
    total: dict[str, int] = {}
    for row in doc["items"]:
        total[row["kata"]] = total.get(row["kata"], 0) + row["nodes"]
        assert row["behindLatest"] == (0 if row["kata"] == "4.1.0" else row["behindLatest"])
    truth = [t["installed"] for t in sim.world.truth().values()]
    assert total == {v: truth.count(v) for v in set(truth)}
    assert all(r["behindLatest"] >= 1 for r in doc["items"])  # nobody runs 4.1.0 yet


def test_history_and_describe_show_a_cordon(filled: tuple[Simulator, str]) -> None:
    sim, db = filled
    from kubernetes import client

    from tests.support.sim import api_client

    client.CoreV1Api(api_client(sim)).patch_node("kata-ppc64le-0003", {"spec": {"unschedulable": True}})
    assert fleetctl("--kubeconfig", str(sim.kubeconfig), "--db", db, "collect").returncode == 0
    changes = json.loads(fleetctl("--db", db, "history", "kata-ppc64le-0003", "--since", "1h", "-o", "json").stdout)[
        "items"
    ]
    assert changes[0]["fact"] == "unschedulable" and (changes[0]["old"], changes[0]["new"]) == ("false", "true")
    described = fleetctl("--db", db, "describe", "node", "kata-ppc64le-0003")
    assert described.returncode == 0, described.stderr
    assert "Cordoned:    True" in described.stdout and "unschedulable" in described.stdout
    missing = fleetctl("--db", db, "describe", "node", "no-such-node")
    assert_clean_error(missing, 2)
    assert "not in the store" in missing.stderr


def test_live_collects_first_and_an_unreachable_cluster_is_exit_3(
    fresh_sim: Simulator, sqlite_url: str, tmp_path: object
) -> None:
    from pathlib import Path

    live = fleetctl(
        "--kubeconfig", str(fresh_sim.kubeconfig), "--db", sqlite_url, "query", "--live", "--count", "arch = s390x"
    )
    assert live.returncode == 1 and live.stdout.strip() == str(
        sum(1 for t in fresh_sim.world.nodes.values() if t.spec.arch == "s390x")
    )
    dead = Path(str(tmp_path)) / "dead"
    dead.write_text(fresh_sim.kubeconfig.read_text().replace(fresh_sim.url, "https://127.0.0.1:1"))
    result = fleetctl("--kubeconfig", str(dead), "--db", sqlite_url, "nodes", "--live")
    assert_clean_error(result, 3)
    assert "cannot reach the API server" in result.stderr and fresh_sim.token not in result.stderr


def test_old_data_is_flagged_stale(filled: tuple[Simulator, str], tmp_path: object) -> None:
    from pathlib import Path

    _, db = filled
    cfg = Path(str(tmp_path)) / "config.toml"
    cfg.write_text('collect_interval = "1s"\n')
    from tests.support.sim import wait_for

    # The data turns stale once it is older than the interval allows: wait for that, however long it takes.
    result = wait_for(
        lambda: (r := fleetctl("--config", str(cfg), "--db", db, "nodes", "-o", "json")) and "STALE" in r.stderr and r,
        interval=0.5,
        what="the data to be flagged stale",
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["metadata"]["stale"] is True


def test_describe_shows_the_nodes_recent_events(filled: tuple[Simulator, str]) -> None:
    sim, db = filled
    from kubernetes import client

    from tests.support.sim import api_client

    core = client.CoreV1Api(api_client(sim))
    node = "kata-s390x-0001"
    at = "2026-11-26T10:00:00Z"
    core.create_namespaced_event(
        "default",
        {
            "metadata": {"name": f"{node}.test1"},
            "involvedObject": {"kind": "Node", "name": node, "apiVersion": "v1"},
            "reason": "NodeHasDiskPressure", "message": "disk [red]pressure", "type": "Warning",
            "source": {"component": "kubelet", "host": node}, "firstTimestamp": at, "lastTimestamp": at, "count": 3,
        },
    )  # fmt: skip
    core.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "build-x.test2"},
            "involvedObject": {"kind": "Pod", "name": "build-x", "namespace": "default", "apiVersion": "v1"},
            "reason": "FailedCreatePodSandBox", "message": 'no runtime for "kata-qemu-se" is configured',
            "type": "Warning", "source": {"component": "kubelet", "host": node},
            "firstTimestamp": at, "lastTimestamp": at, "count": 1,
        },
    )  # fmt: skip
    assert fleetctl("--kubeconfig", str(sim.kubeconfig), "--db", db, "collect").returncode == 0
    doc = json.loads(fleetctl("--db", db, "describe", "node", node, "-o", "json").stdout)
    reasons = {e["reason"]: e for e in doc["events"]}
    assert reasons["NodeHasDiskPressure"]["count"] == 3 and reasons["NodeHasDiskPressure"]["object"] == "Node"
    assert reasons["FailedCreatePodSandBox"]["object"] == "Pod default/build-x"
    table = fleetctl("--db", db, "describe", "node", node).stdout
    assert "FailedCreatePodSandBox" in table and "NodeHasDiskPressure" in table
    again = fleetctl("--kubeconfig", str(sim.kubeconfig), "--db", db, "collect", "-o", "json")
    assert again.returncode == 0  # the same events again: nothing new written
    doc = json.loads(fleetctl("--db", db, "describe", "node", node, "-o", "json").stdout)
    assert sorted(e["reason"] for e in doc["events"] if e["reason"] in reasons) == sorted(reasons)
