"""`fleetctl nodes` and `fleetctl query` on a store the collector filled from the simulator (both databases)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from simulator.server import Simulator
from tests.cli.test_cli import assert_clean_error, fleetctl


@pytest.fixture
def filled(fresh_sim: Simulator, db_url: str) -> tuple[Simulator, str]:
    result = fleetctl("--kubeconfig", str(fresh_sim.kubeconfig), "--db", db_url, "collect")
    assert result.returncode == 0, result.stderr
    return fresh_sim, db_url


def test_nodes_json_is_an_enveloped_list_matching_the_simulator(filled: tuple[Simulator, str]) -> None:
    sim, db = filled
    result = fleetctl("--db", db, "nodes", "-o", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["apiVersion"], doc["kind"]) == ("fleetctl.io/v1", "NodeList")
    assert doc["metadata"]["dataAgeSeconds"] >= 0
    truth = sim.world.truth()
    assert {i["name"]: i["kata"]["version"] for i in doc["items"]} == {n: t["installed"] for n, t in truth.items()}
    assert {i["name"] for i in doc["items"] if i["customKernel"]} == {n for n, t in truth.items() if t["customKernel"]}
    assert "data from" in result.stderr and result.stdout.lstrip().startswith("{")


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
