"""Stale sandboxes (pure): Running Kata pods started before their node's last install."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from clients.kube.annotations import INSTALLED_AT_ANNOTATION, installed_at_value, parse_timestamp, read_installed_at
from clients.kube.decode import convert
from clients.kube.objects import Pod
from collectors.inventory.collector import facts_from
from collectors.inventory.informer import Informer
from collectors.inventory.nodefacts import install_time, stale_count
from collectors.inventory.pods import NodePods, Role, fold, is_kata_class
from collectors.inventory.watching import _merge
from store.facts import VOLATILE_FACTS


def _at(hour: int) -> datetime:
    return datetime(2026, 11, 26, hour, tzinfo=UTC)


def _stamp(hour: int) -> str:
    return f"2026-11-26T{hour:02d}:00:00Z"


def _node(name: str, installed_at: str | None = None) -> dict[str, Any]:
    annotations = {INSTALLED_AT_ANNOTATION: installed_at} if installed_at is not None else {}
    return {"metadata": {"name": name, "annotations": annotations}, "status": {}}


def _pod(node: str, hour: int | None, *, runtime_class: str | None = "kata-qemu", phase: str = "Running") -> Any:
    status: dict[str, Any] = {"phase": phase}
    if hour is not None:
        status["startTime"] = _stamp(hour)
    spec: dict[str, Any] = {"nodeName": node, "containers": [{"image": "quay.io/buildah/stable:v1"}]}
    if runtime_class:
        spec["runtimeClassName"] = runtime_class
    return {"metadata": {"name": f"p-{node}-{hour}", "labels": {}}, "spec": spec, "status": status}


def _deploy(node: str, hour: int, *, phase: str = "Running") -> Any:
    return {
        "metadata": {"name": f"kata-deploy-{node}", "namespace": "kube-system", "labels": {"name": "kata-deploy"}},
        "spec": {"nodeName": node, "containers": [{"image": "quay.io/kata-containers/kata-deploy:3.28.0"}]},
        "status": {"phase": phase, "startTime": _stamp(hour)},
    }


def reduce_pod(pod: dict[str, Any], nodes: dict[str, NodePods]) -> None:
    """Fold a pod as the read that the default selectors would return it from."""
    role = Role.DEPLOY if pod["metadata"]["labels"].get("name") == "kata-deploy" else Role.WORKLOAD
    fold(convert(pod, Pod), role, nodes)


def _stale(nodes: list[dict[str, Any]], pods: list[Any]) -> dict[str, int | None]:
    accumulators: dict[str, NodePods] = {}
    for pod in pods:
        reduce_pod(pod, accumulators)
    return {f.name: f.stale_sandboxes for f in facts_from(nodes, accumulators, {})}


def test_only_kata_runtime_classes_count() -> None:
    assert all(is_kata_class(c) for c in ("kata-qemu", "kata-qemu-se", "kata-remote", "kata-clh", "kata"))
    assert not any(is_kata_class(c) for c in (None, "", "runc", "gvisor", 3))


def test_counts_are_unknown_without_an_install_time_and_zero_without_kata_pods() -> None:
    assert stale_count([_at(1), _at(2), _at(3)], _at(2)) == 1  # started at the install time: not stale
    assert stale_count([], _at(2)) == 0
    assert stale_count([_at(1)], None) is None
    assert stale_count(None, _at(2)) is None  # a Running Kata pod without a start time


def test_the_annotation_wins_over_the_kata_deploy_pods_start() -> None:
    assert install_time({INSTALLED_AT_ANNOTATION: _stamp(5)}, _at(9)) == _at(5)
    assert install_time({}, _at(9)) == _at(9)
    assert install_time({INSTALLED_AT_ANNOTATION: "yesterday"}, _at(9)) == _at(9)
    assert install_time({}, None) is None


def test_the_annotation_round_trips_and_bad_times_are_none() -> None:
    at = datetime(2026, 11, 26, 17, 30, 52, tzinfo=UTC)
    assert installed_at_value(at) == "2026-11-26T17:30:52Z"
    assert read_installed_at({INSTALLED_AT_ANNOTATION: installed_at_value(at)}) == at
    assert parse_timestamp("2026-11-26T18:30:52+01:00") == at
    for bad in ("", "soon", "2026-11-26T17:30:52", None, 1764178252):  # no zone is not RFC 3339
        assert parse_timestamp(bad) is None, bad


def test_collected_nodes_count_running_kata_pods_started_before_the_install() -> None:
    nodes = [_node("annotated", _stamp(10)), _node("deployed"), _node("no-install"), _node("empty", _stamp(1))]
    pods = [
        *(_pod("annotated", h) for h in (8, 9, 10, 11)),  # 8 and 9 are stale
        _pod("annotated", 7, runtime_class="kata-remote"),  # a peer pod's shim runs on the node: stale too
        _pod("annotated", 7, runtime_class=None),  # runc
        _pod("annotated", 7, phase="Succeeded"),
        _pod("annotated", 7, phase="Pending"),
        _deploy("annotated", 12),  # the annotation wins over it
        _deploy("deployed", 6),
        *(_pod("deployed", h) for h in (5, 6, 7)),
        _pod("no-install", 3),
    ]
    assert _stale(nodes, pods) == {"annotated": 3, "deployed": 1, "no-install": None, "empty": 0}


def test_a_kata_deploy_pod_that_is_not_running_gives_no_install_time() -> None:
    assert _stale([_node("n")], [_deploy("n", 6, phase="Pending"), _pod("n", 5)]) == {"n": None}


def test_a_running_kata_pod_without_a_start_time_makes_the_count_unknown() -> None:
    assert _stale([_node("n", _stamp(10))], [_pod("n", 5), _pod("n", None)]) == {"n": None}


def test_a_bad_annotation_is_a_parse_problem_and_the_deploy_pod_is_used() -> None:
    accumulators: dict[str, NodePods] = {}
    for pod in (_deploy("n", 6), _pod("n", 5)):
        reduce_pod(pod, accumulators)
    (facts,) = facts_from([_node("n", "last tuesday")], accumulators, {})
    assert facts.stale_sandboxes == 1
    assert any(INSTALLED_AT_ANNOTATION in p for p in facts.parse_problems), facts.parse_problems


def test_the_watch_keeps_kata_start_times_from_the_last_full_summary() -> None:
    summary: dict[str, NodePods] = {}
    for pod in (_pod("n", 5), _pod("n", 8)):
        reduce_pod(pod, summary)
    deploy = Informer(client=None, path="/api/v1/pods")  # type: ignore[arg-type]  # never asked: objects set here
    deploy.objects = {"kube-system/kata-deploy-n": _deploy("n", 6)}
    merged = _merge(summary, [(Role.DEPLOY, deploy)])
    assert {f.name: f.stale_sandboxes for f in facts_from([_node("n")], merged, {})} == {"n": 1}
    assert merged["n"].kata_starts is not summary["n"].kata_starts  # the next summary replaces, never appends


@pytest.mark.parametrize("fact", ["stale_sandboxes", "peerpod_count"])
def test_counts_that_move_with_every_build_write_no_history(fact: str) -> None:
    assert fact in VOLATILE_FACTS
