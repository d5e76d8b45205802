"""The fleet series' grouped reads, on SQLite and PostgreSQL: ``check_counts`` says what a plain
GROUP BY over every check says, on its quick path and its slow one; ``fleetctl_upgrade_cordoned_nodes``
counts the nodes a run cordoned that are still unschedulable, and keeps an ended run while it holds one."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import col

from fleetctl.serve.fleetseries import FleetCollector, check_counts
from store.checks import CheckResult, Status
from store.engine import Store
from store.facts import NodeFacts
from store.health import record_checks
from store.models import Cluster, HealthCheck, Node
from store.runs import DraftNode, create_run, read_run, set_run, set_step
from store.snapshots import record_snapshot
from store.states import RunState, Step, StepState

CODES = ("KATA001", "KATA002", "KATA006")


def _node(name: str, **facts: object) -> NodeFacts:
    return NodeFacts(name=name, uid=f"uid-{name}", arch="amd64", kata_version="4.0.0", **facts)  # type: ignore[arg-type]


def _checks(statuses: dict[str, Status]) -> list[CheckResult]:
    return [CheckResult(code, status, f"{code} is {status}") for code, status in statuses.items()]


def _plain_group_by(store: Store) -> Counter[tuple[str, str, str]]:
    """What check_counts replaces: one GROUP BY over every check of a present node."""
    with store.read_connection() as conn:
        rows = conn.execute(
            sa.select(col(Cluster.name), col(HealthCheck.code), col(HealthCheck.status), sa.func.count())
            .join(Node, col(Node.id) == col(HealthCheck.node_id))
            .join(Cluster, col(Cluster.id) == col(Node.cluster_id))
            .where(col(Node.gone_at).is_(None))
            .group_by(col(Cluster.name), col(HealthCheck.code), col(HealthCheck.status))
        )
        return Counter({(cluster, code, status): n for cluster, code, status, n in rows})


def _check_counts(store: Store) -> Counter[tuple[str, str, str]]:
    with store.read_connection() as conn:
        clusters = {i: n for i, n in conn.execute(sa.select(col(Cluster.id), col(Cluster.name))) if i is not None}
        return check_counts(conn, clusters)


def test_check_counts_agree_with_a_plain_group_by_when_every_node_has_every_code(store: Store) -> None:
    at = datetime.now(UTC)
    with store.write() as session:
        record_snapshot(session, "eu", [_node(f"eu-{i}") for i in range(4)], at=at)
        record_snapshot(session, "us", [_node("us-0")], at=at)
        bad = {"eu-1": Status.CRIT, "eu-2": Status.WARN, "eu-3": Status.UNKNOWN}
        record_checks(
            session, "eu", {f"eu-{i}": _checks({c: bad.get(f"eu-{i}", Status.OK) if c == "KATA006" else Status.OK
                                                for c in CODES}) for i in range(4)}, at=at,
        )  # fmt: skip
        record_checks(session, "us", {"us-0": _checks(dict.fromkeys(CODES, Status.CRIT))}, at=at)
    counts = _check_counts(store)
    assert counts == _plain_group_by(store)
    assert counts[("eu", "KATA006", "ok")] == 1 and counts[("eu", "KATA006", "crit")] == 1
    assert counts[("eu", "KATA001", "ok")] == 4 and ("us", "KATA001", "ok") not in counts


def test_check_counts_agree_with_a_plain_group_by_when_nodes_lack_codes_or_are_gone(store: Store) -> None:
    at = datetime.now(UTC)
    with store.write() as session:
        record_snapshot(session, "eu", [_node("eu-0"), _node("eu-1"), _node("eu-2"), _node("old")], at=at)
        record_checks(
            session, "eu",
            {"eu-0": _checks(dict.fromkeys(CODES, Status.OK)),
             "eu-1": _checks({"KATA001": Status.OK, "KATA006": Status.CRIT}),
             "eu-2": _checks({"KATA002": Status.WARN}),
             "old": _checks({"KATA001": Status.CRIT, "GONE001": Status.OK})},
            at=at,
        )  # fmt: skip
        record_snapshot(session, "eu", [_node("eu-0"), _node("eu-1"), _node("eu-2")], at=at + timedelta(minutes=1))
    counts = _check_counts(store)
    assert counts == _plain_group_by(store)
    assert not [key for key in counts if key[1] == "GONE001"]  # only the gone node had it
    assert counts[("eu", "KATA001", "ok")] == 2 and ("eu", "KATA001", "crit") not in counts


def _cordoned(store: Store) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(FleetCollector(store, per_node=False, cache_s=30))
    text = generate_latest(registry).decode()
    return {
        s.labels["run"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "fleetctl_upgrade_cordoned_nodes"
    }


def test_cordoned_nodes_are_the_runs_cordons_still_unschedulable_and_an_ended_run_stays_while_it_holds_one(
    store: Store,
) -> None:
    at = datetime.now(UTC)
    names = ["n-0", "n-1", "n-2", "n-3"]
    with store.write() as session:
        record_snapshot(session, "eu", [_node(n) for n in names], at=at)
    run = create_run(
        store, name="roll", target="4.1.0", plan={}, waves=[[DraftNode("eu", n, "4.0.0", "4.1.0", {}) for n in names]]
    )
    steps = {s.node: s.id for s in read_run(store, run).steps}
    set_step(store, steps["n-0"], step=Step.INSTALL, state=StepState.FAILED, cordoned_by_us=True)  # left cordoned
    set_step(store, steps["n-1"], step=Step.DONE, state=StepState.DONE, cordoned_by_us=True)  # uncordoned, then
    set_step(store, steps["n-2"], step=Step.DRAIN, state=StepState.FAILED, cordoned_by_us=True)  # uncordoned
    set_step(store, steps["n-3"], step=Step.DRAIN, state=StepState.FAILED, cordoned_by_us=False)  # not its cordon
    ended = at - timedelta(days=3)
    set_run(store, run, state=RunState.ABORTED, started_at=ended, finished_at=ended)

    def collect(*unschedulable: str) -> None:
        with store.write() as session:
            record_snapshot(session, "eu", [_node(n, unschedulable=n in unschedulable) for n in names], at=at)

    collect("n-0", "n-1", "n-3")  # n-1 cordoned again by someone else, n-3 by someone else all along
    assert _cordoned(store) == {str(run): 1}  # ended three days ago, still shown: it left n-0 cordoned
    collect()  # someone uncordoned n-0
    assert _cordoned(store) == {}  # nothing held, and ended more than a day ago
