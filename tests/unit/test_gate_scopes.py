"""A gate over several clusters: each cluster's query names only its nodes, goes only to its
source, and the samples are judged together (in-process, with recording sources)."""

from __future__ import annotations

from tests.support.fakecluster import FakeClock
from upgrades.gates import GateScope, run_gate
from upgrades.planfile import Check, Gates

GATES = Gates(soak_s=0, checks=(Check(name="up", query='min(up{node=~"{{nodes}}"})', success="value >= 1"),))


class Recording:
    """A metrics source that answers fixed values and records the queries it was sent."""

    def __init__(self, answer: list[float] | str) -> None:
        self.answer, self.sent = answer, list[str]()

    def values(self, promql: str) -> list[float] | str:
        self.sent.append(promql)
        return self.answer

    def scrape_errors(self) -> dict[str, str] | None:
        return {}


def gate(*scopes: GateScope) -> tuple[str, str, list[float]]:
    state, message, results = run_gate(
        GATES, None, nodes=[], wave_nodes=[], target="4.0", should_stop=lambda: False, on_update=lambda _r: None,
        clock=FakeClock(), scopes=scopes,
    )  # fmt: skip
    return state, message, results[0].measurements[-1]["values"]


def test_each_cluster_is_asked_about_its_own_nodes_only() -> None:
    a, b = Recording([1.0]), Recording([0.0])
    state, message, values = gate(GateScope("a", a, ["n1", "n2"], ["n2"]), GateScope("b", b, ["n1"], ["n1"]))
    assert a.sent == ['min(up{node=~"n1|n2"})'] and b.sent == ['min(up{node=~"n1"})']
    assert state == "failed" and values == [1.0, 0.0] and "misses successCondition" in message


def test_an_error_names_its_cluster_and_a_missing_prometheus_fails_closed() -> None:
    state, message, _values = gate(
        GateScope("a", Recording([1.0]), ["n"], ["n"]), GateScope("b", Recording("refused"), ["n"], ["n"])
    )
    assert state == "failed" and "cluster b: refused" in message
    state, message, _values = gate(GateScope("a", Recording([1.0]), ["n"], ["n"]), GateScope("b", None, ["n"], ["n"]))
    assert state == "failed" and "no Prometheus is configured for cluster b" in message


def test_one_cluster_keeps_the_old_messages() -> None:
    state, _message, values = gate(GateScope("a", Recording([2.0]), ["n"], ["n"]))
    assert state == "passed" and values == [2.0]
    state, message, _values = gate(GateScope("a", Recording("refused"), ["n"], ["n"]))
    assert state == "failed" and "cluster a" not in message and "refused" in message
