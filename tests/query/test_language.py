"""The query language: parsing, errors with a caret, and what each field selects (both databases)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes import client

from clients.kube.client import KubeClient
from clients.kube.config import open_contexts
from collectors.inventory.collector import RetryPolicy, collect_cluster
from collectors.releases.catalog import kernel_pins
from simulator.server import Simulator
from store.engine import Store
from store.migrate import open_store
from store.query import QuerySyntaxError, parse
from store.query.compiler import compile_query, nodes_select
from store.query.parser import BoolOp, Compare, InList, Not
from store.versions import KataVersion
from tests.support.sim import api_client


def test_parses_the_examples_from_the_issue() -> None:
    tree = parse("arch = s390x and kata < 4.0 and health != ok")
    assert isinstance(tree, BoolOp) and tree.op == "and" and len(tree.items) == 3
    assert parse('kernel.guest ~ "6.18.*"') == Compare("kernel.guest", "~", "6.18.*", 0)
    assert isinstance(parse("zone in (a, b)"), InList)
    assert parse('label["topology.kubernetes.io/zone"] = "z1"') == Compare(
        "label:topology.kubernetes.io/zone", "=", "z1", 0
    )
    assert isinstance(parse("not (drift or custom_kernel)"), Not)
    parse("changed within 24h")
    parse("check = KATA010")


@pytest.mark.parametrize(
    ("text", "message", "caret"),
    [
        ("arch = s390x and kata <", "expected a value, found the end of the query", 23),
        ("arch = s390x and", "expected a field, found the end of the query", 16),
        ("arhc = s390x", "unknown field 'arhc'; did you mean 'arch'?", 0),
        ("arch s390x", "expected an operator after 'arch'", 5),
        ("zone in (a, b", "expected ')' or ','", 13),
        ("arch = s390x)", "expected 'and', 'or' or the end", 12),
        ("arch = s390x; drop table node", "unexpected character ';'", 12),
        ("", "expected a condition", 0),
    ],
)
def test_syntax_errors_point_at_the_token(text: str, message: str, caret: int) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    lines = info.value.message.splitlines()
    assert message in lines[0]
    assert lines[2].index("^") - 4 == caret
    assert info.value.hint


@pytest.mark.parametrize(
    ("text", "message", "caret"),
    [
        ("kata < four", "'four' is not a Kata version", 7),
        ("cpu ~ 4", "'~' does not apply to numbers", 4),
        ("arch = s390x and health = bad", "health is one of ok, unknown, warn, crit, not 'bad'", 26),
        ("arch in (amd64, sparc)", "unknown arch 'sparc'", 16),
        ("zone < z1", "'<' does not apply to text", 5),
        ("changed within forever", "changed within: 'forever' is not a duration", 0),
    ],
)
def test_errors_the_compiler_finds_point_at_their_token_too(text: str, message: str, caret: int) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        compile_query(text, dialect="sqlite", now=datetime.now(UTC))
    lines = info.value.message.splitlines()
    assert lines[0] == message and lines[1] == f"    {text}"
    assert lines[2].index("^") - 4 == caret
    assert info.value.hint and info.value.where == "query"


def test_huge_and_non_ascii_queries_get_clean_errors() -> None:
    with pytest.raises(QuerySyntaxError, match="limit is 4096"):
        parse("arch = s390x or " * 400)
    with pytest.raises(QuerySyntaxError, match="unexpected character"):
        parse("zone = zürich")
    assert parse('zone = "zürich"') == Compare("zone", "=", "zürich", 0)


@settings(max_examples=300)
@given(st.text(max_size=120))
def test_the_parser_raises_only_its_own_syntax_error(text: str) -> None:
    try:
        tree = parse(text)
    except QuerySyntaxError:
        return
    with contextlib.suppress(QuerySyntaxError):
        compile_query(text, dialect="sqlite", now=datetime.now(UTC))
    assert tree is not None


@pytest.fixture
def fleet(fresh_sim: Simulator, db_url: str) -> Iterator[tuple[Store, Simulator]]:
    core = client.CoreV1Api(api_client(fresh_sim))
    core.patch_node(
        "kata-amd64-0001",
        {"spec": {"unschedulable": True}, "metadata": {"labels": {"team": "o'brien; DROP TABLE node"}}},
    )
    store = open_store(db_url)
    kube = KubeClient(open_contexts(fresh_sim.kubeconfig)[0])
    assert collect_cluster(kube, store, kernel_pins(store), retry=RetryPolicy(base=0.01)).error is None
    yield store, fresh_sim
    store.close()


def names(store: Store, text: str) -> set[str]:
    cond = compile_query(text, dialect=store.backend, now=datetime.now(UTC))
    with store.read() as s:
        return {row[0].name for row in s.execute(nodes_select().where(cond))}


def test_each_field_selects_what_the_simulator_holds(fleet: tuple[Store, Simulator]) -> None:
    store, sim = fleet
    truth = sim.world.truth()
    specs = {n: t.spec for n, t in sim.world.nodes.items()}
    below_4 = {n for n, t in truth.items() if KataVersion.parse(t["installed"]) < KataVersion.parse("4.0.0")}
    assert names(store, "arch = s390x and kata < 4.0") == {n for n in below_4 if truth[n]["arch"] == "s390x"}
    assert names(store, "arch = x86_64") == {n for n, t in truth.items() if t["arch"] == "amd64"}  # normalised
    assert names(store, "kata = 4.0") == {n for n, t in truth.items() if t["installed"].startswith("4.0.")}
    assert names(store, "kata >= 3.32.0 and kata <= 3.32.0") == {
        n for n, t in truth.items() if t["installed"] == "3.32.0"
    }
    assert names(store, "custom_kernel") == {n for n, t in truth.items() if t["customKernel"]}
    assert names(store, 'kernel.guest ~ "6.18.30-*"') == {n for n, t in truth.items() if t["customKernel"]}
    assert names(store, "zone in (eu-de-1, eu-de-3)") == {
        n for n, t in truth.items() if t["zone"] in ("eu-de-1", "eu-de-3")
    }
    assert names(store, "zone not in (eu-de-1, eu-de-3)") == {n for n, t in truth.items() if t["zone"] == "eu-de-2"}
    assert names(store, 'label["topology.kubernetes.io/zone"] = "eu-de-2"') == {
        n for n, t in truth.items() if t["zone"] == "eu-de-2"
    }
    assert names(store, "cordoned") == {"kata-amd64-0001"}
    assert names(store, "cpu >= 32") == {n for n, s in specs.items() if s.cpus >= 32}
    assert names(store, "handler = kata-qemu-se") == {n for n, s in specs.items() if s.secure_execution}
    assert names(store, "health != ok") == set(truth)  # never checked counts as unknown, not ok
    assert names(store, "drift") == set()
    assert names(store, "changed within 1h") == set(truth)
    assert names(store, "not (arch = amd64 or arch = s390x)") == {n for n, t in truth.items() if t["arch"] == "ppc64le"}


def test_injection_attempts_are_values_not_sql(fleet: tuple[Store, Simulator]) -> None:
    store, _ = fleet
    assert names(store, 'label["team"] = "o\'brien; DROP TABLE node"') == {"kata-amd64-0001"}
    assert names(store, "name = \"x' OR '1'='1\"") == set()
    assert names(store, 'name ~ "%"') == set()  # LIKE wildcards in values are literal
    with store.read() as s:
        assert s.execute(sa.text("SELECT count(*) FROM node")).scalar_one() == 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kata < banana", "'banana' is not a Kata version"),
        ("arch = sparc", "unknown arch 'sparc'"),
        ("health = great", "health is one of"),
        ("zone < b", "does not apply to text"),
        ("changed within soon", "not a duration"),
    ],
)
def test_bad_values_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(Exception, match=message) as info:
        compile_query(text, dialect="sqlite", now=datetime.now(UTC))
    assert info.value.__class__.__name__ in ("QuerySyntaxError", "BadInputError")


def test_not_includes_nodes_where_the_value_is_missing(fleet: tuple[Store, Simulator]) -> None:
    store, sim = fleet
    peer = {n for n, t in sim.world.nodes.items() if t.spec.peer_pods}
    assert names(store, 'label["confidentialcontainers.org/peer-pods"] ~ "*"') == peer
    assert names(store, 'not label["confidentialcontainers.org/peer-pods"] ~ "*"') == set(sim.world.nodes) - peer
    assert names(store, 'not label["team"] = "x"') == set(sim.world.nodes)
