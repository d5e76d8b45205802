"""The stored run document, parsed once."""

from __future__ import annotations

from typing import Any

import pytest

from upgrades.planfile import parse_plan
from upgrades.rundoc import RunPlan, gates_need_prometheus

DOC = {
    "source": {"spec": {"target": "4.1.0", "gates": {"checks": [{"name": "x"}]}}, "metadata": {"name": "p"}},
    "pool": ["c/a", "c/b"], "maxUnavailable": 2, "waveBudgets": [0, 1], "runBudget": 1, "estimateSeconds": 12.34,
    "excluded": 3, "deployments": {"c": {"mechanism": "job", "helmRelease": "kata", "helmNamespace": "kube-system"}},
    "fromTheFuture": True,
}  # fmt: skip


def test_the_document_round_trips_and_keeps_unknown_keys() -> None:
    plan = RunPlan.parse(DOC)
    assert (plan.pool, plan.max_unavailable, plan.wave_budgets, plan.run_budget) == (("c/a", "c/b"), 2, (0, 1), 1)
    assert plan.document() == {**DOC, "estimateSeconds": 12.3}
    assert RunPlan.parse(None) == RunPlan(source={})


def test_only_an_upgrade_with_gate_checks_needs_prometheus() -> None:
    plan = RunPlan.parse(DOC)
    assert plan.needs_prometheus("upgrade") and not plan.needs_prometheus("rollback")
    off = RunPlan.parse({**DOC, "source": {"spec": {"gates": {"enabled": False, "checks": [{"name": "x"}]}}}})
    assert not off.needs_prometheus("upgrade")
    assert not RunPlan.parse({"source": {"spec": {"gates": {}}}}).needs_prometheus()


CHECK = {"name": "c", "query": "up", "successCondition": "value > 0"}


@pytest.mark.parametrize(
    ("gates", "needed"),
    [({"checks": [CHECK]}, True), ({"enabled": False, "checks": [CHECK]}, False), ({}, False), (None, False)],
)
def test_a_plan_file_and_its_stored_run_apply_the_same_rule(gates: dict[str, Any] | None, needed: bool) -> None:
    # apply and rehearse read the parsed plan file; the executor, resume and serve read the stored run
    spec: dict[str, Any] = {"target": "4.1.0", **({"gates": gates} if gates is not None else {})}
    source = {"apiVersion": "fleetctl.io/v1", "kind": "UpgradePlan", "metadata": {"name": "p"}, "spec": spec}
    parsed = parse_plan(source, where="p")
    assert gates_need_prometheus(parsed.gates.enabled, parsed.gates.checks) is needed
    assert RunPlan(source=source).needs_prometheus("upgrade") is needed


def test_a_rollback_plan_turns_gates_off_and_allows_the_downgrade() -> None:
    back = RunPlan.parse(DOC).for_rollback("p-rollback", "3.30.0", (2,), 2)
    assert back.spec["gates"] == {"enabled": False} and back.spec["allowDowngrade"] is True
    assert back.spec["target"] == "3.30.0" and back.source["metadata"] == {"name": "p-rollback"}
    assert (back.wave_budgets, back.run_budget, back.pool) == ((2,), 2, ("c/a", "c/b"))
    assert back.deployments == DOC["deployments"]  # a rollback installs the way its run did
