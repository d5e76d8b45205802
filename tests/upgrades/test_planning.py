"""The plan file's validation and the planner: pure logic, no I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upgrades.planfile import PlanError, load_plan, parse_plan, resolve_size
from upgrades.planner import ARCH, AT_TARGET, DOWNGRADE, NO_KATA, OUTSIDE, PINNED, UNHEALTHY, Candidate, make_plan

SHIPPED = ("amd64", "arm64", "ppc64le", "s390x")


def doc(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "fleetctl.io/v1",
        "kind": "UpgradePlan",
        "metadata": {"name": "p"},
        "spec": {"target": "4.1.0", **spec},
    }


def fleet(n: int = 12, **overrides: Any) -> list[Candidate]:
    arches = ("amd64", "ppc64le", "s390x")
    return [
        Candidate(cluster="c", name=f"n{i:02d}", arch=arches[i % 3], zone=f"z{i % 2}", kata="3.28.0", **overrides)
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("spec", "where", "words"),
    [
        ({"target": "four"}, "spec.target", "not a Kata release"),
        ({"waves": {"sizes": [1, "150%"]}}, "spec.waves.sizes[1]", "percentage"),
        ({"waves": {"sizes": []}}, "spec.waves.sizes", "at least one"),
        ({"waves": {"order": "random"}}, "spec.waves.order", "zone-arch"),
        ({"waves": {"maxUnavailable": 0}}, "spec.waves.maxUnavailable", "1 or more"),
        ({"drain": {"onTimeout": "ignore"}}, "spec.drain.onTimeout", "wait-for-builds"),
        ({"drain": {"timeout": "soon"}}, "spec.drain.timeout", "30s"),
        ({"install": {"mechanism": "RollingUpdate"}}, "spec.install.mechanism", "OnDelete"),
        ({"install": {"helm": "ignore"}}, "spec.install.helm", "reconcile-after"),
        ({"install": {"label": "not a key!"}}, "spec.install.label", "fleetctl.io/kata-release"),
        ({"drain": {"mode": "delete"}}, "spec.drain.mode", "none"),
        ({"gates": {"checks": [{"name": "a", "query": "up"}]}}, "spec.gates.checks[0].successCondition", "needs"),
        (
            {"gates": {"checks": [{"name": "a", "query": "up", "successCondition": "x < 1"}]}},
            "successCondition",
            "not a condition",
        ),
        (
            {"gates": {"checks": [{"name": "a", "query": "up", "failureCondition": "value > 1", "noData": "maybe"}]}},
            "noData",
            "fail",
        ),
        ({"failureBudget": {"onBreach": "panic"}}, "spec.failureBudget.onBreach", "pause"),
        ({"window": {"schedule": "0 25 * * *", "duration": "4h"}}, "spec.window.schedule", "cron"),
        (
            {"window": {"schedule": "0 22 * * *", "duration": "4h", "timezone": "Mars/Base"}},
            "spec.window.timezone",
            "IANA",
        ),
        ({"selector": {"arch": ["sparc"]}}, "spec.selector.arch[0]", "unknown arch"),
        ({"verify": {"smoke": {"runtimeClass": {}}}}, "spec.verify.smoke.runtimeClass", "RuntimeClass"),
        ({"surprise": 1}, "spec.surprise", "unknown field"),
        ({"safety": {"minHealthyPercent": 120}}, "spec.safety.minHealthyPercent", "between 0 and 100"),
    ],
)
def test_bad_plans_name_the_field_and_the_fix(spec: dict[str, Any], where: str, words: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(doc(**spec))
    assert where in (caught.value.where or "")
    assert words in caught.value.message + (caught.value.hint or "")
    assert caught.value.hint


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        (
            "  waves:\n    sizes: [1, 5]\n    maxUnavailble: 2\n",
            "plan.yaml:9:5: spec.waves.maxUnavailble",
            "unknown field 'maxUnavailble'; did you mean 'maxUnavailable'?",
        ),
        ("  waves:\n    sizes: [1, 0]\n", "plan.yaml:8:16: spec.waves.sizes[1]", "must be 1 or more"),
        (
            "  gates:\n    checks:\n      - name: rpc\n        query: up\n",
            "plan.yaml:9:9: spec.gates.checks[0].successCondition",  # missing: its nearest parent
            "successCondition",
        ),
    ],
)
def test_a_plan_files_errors_give_its_line_and_column(tmp_path: Path, body: str, where: str, message: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        f"apiVersion: fleetctl.io/v1\nkind: UpgradePlan\nmetadata:\n  name: p\nspec:\n  target: 4.1.0\n{body}"
    )
    with pytest.raises(PlanError) as caught:
        load_plan(plan)
    assert caught.value.where == f"{tmp_path}/{where}"
    assert message in caught.value.message


def test_a_full_plan_parses() -> None:
    spec = parse_plan(
        doc(
            selector={"clusters": ["prod"], "arch": ["x86_64"], "where": "not custom_kernel"},
            waves={"sizes": [1, 5, "10%"], "order": "arch-zone", "maxUnavailable": "10%"},
            drain={"timeout": "10m", "gracePeriod": "30s", "onTimeout": "wait-for-builds", "buildWaitLimit": "2h"},
            gates={
                "soak": "5m",
                "checks": [
                    {"name": "rpc", "query": "up", "successCondition": "value >= 1", "interval": "30s", "count": 3}
                ],
            },
            failureBudget={"perWave": 1, "perRun": "5%", "onBreach": "rollback"},
            window={"schedule": "0 22 * * 1-5", "duration": "4h", "timezone": "Europe/Berlin"},
        )
    )
    assert spec.selection.arches == ("amd64",) and spec.waves.sizes == (1, 5, "10%")
    assert spec.drain.grace_period_s == 30 and spec.drain.build_wait_s == 7200
    assert spec.gates.checks[0].count == 3 and spec.budget.per_run == "5%"
    assert spec.window is not None and spec.window.duration_s == 4 * 3600


def test_waves_grow_and_the_last_size_repeats() -> None:
    plan = make_plan(parse_plan(doc(waves={"sizes": [1, 2, "25%"]})), fleet(12), shipped_arches=SHIPPED)
    assert [len(w) for w in plan.waves] == [1, 2, 3, 3, 3]
    assert len({c.key for c in plan.nodes}) == 12


@pytest.mark.parametrize(("order", "first"), [("zone-arch", ("z0", "amd64")), ("arch-zone", ("amd64", "z0"))])
def test_ordering_by_zone_then_arch_or_arch_then_zone(order: str, first: tuple[str, str]) -> None:
    plan = make_plan(parse_plan(doc(waves={"sizes": [100], "order": order})), fleet(12), shipped_arches=SHIPPED)
    keys = [(c.zone, c.arch) if order == "zone-arch" else (c.arch, c.zone) for c in plan.nodes]
    assert keys == sorted(keys) and keys[0] == first


def test_every_excluded_node_has_its_reason() -> None:
    nodes = [
        Candidate("c", "outside", "amd64", "z", "3.28.0", selected=False),
        Candidate("c", "pinned", "amd64", "z", "3.28.0", pinned=True),
        Candidate("c", "arm", "riscv64", "z", "3.28.0"),
        Candidate("c", "done", "amd64", "z", "4.1.0"),
        Candidate("c", "done-by-digest", "amd64", "z", "4.1.0", deploy="latest"),
        Candidate("c", "unreadable", "amd64", "z", "four"),
        Candidate("c", "pod-behind", "amd64", "z", "4.1.0", deploy="4.0.0"),  # a pod restart would reinstall 4.0.0
        Candidate("c", "newer", "amd64", "z", "4.2.0"),
        Candidate("c", "sick", "amd64", "z", "3.28.0", health="crit"),
        Candidate("c", "ok", "amd64", "z", "3.28.0"),
    ]
    plan = make_plan(parse_plan(doc(safety={"minHealthyPercent": 0})), nodes, shipped_arches=SHIPPED)
    assert {e.node.name: e.reason for e in plan.excluded} == {
        "outside": OUTSIDE, "pinned": PINNED, "arm": ARCH, "done": AT_TARGET, "done-by-digest": AT_TARGET,
        "unreadable": NO_KATA, "newer": DOWNGRADE, "sick": UNHEALTHY,
    }  # fmt: skip
    assert sorted(c.name for c in plan.nodes) == ["ok", "pod-behind"]
    assert any("downgrade" in r for r in plan.refusals) and any("does not ship" in r for r in plan.refusals)
    allowed = make_plan(
        parse_plan(doc(allowDowngrade=True, safety={"minHealthyPercent": 0})), nodes[7:8], shipped_arches=SHIPPED
    )
    assert [c.name for c in allowed.nodes] == ["newer"] and not allowed.refusals


def test_unhealthy_fleet_and_a_spent_unavailability_budget_are_refused() -> None:
    sick = [*fleet(4), *fleet(6, health="crit")]
    sick = [Candidate(c.cluster, f"{c.name}-{i}", c.arch, c.zone, c.kata, health=c.health) for i, c in enumerate(sick)]
    assert any("healthy" in r for r in make_plan(parse_plan(doc()), sick, shipped_arches=SHIPPED).refusals)
    cordoned = [*fleet(4), Candidate("c", "x", "amd64", "z", "3.28.0", cordoned=True)]
    plan = make_plan(parse_plan(doc(waves={"maxUnavailable": 1})), cordoned, shipped_arches=SHIPPED)
    assert plan.unavailable_now == 1 and any("maxUnavailable" in r for r in plan.refusals)


def test_budgets_and_the_estimate() -> None:
    spec = parse_plan(
        doc(waves={"sizes": [2, "50%"], "maxUnavailable": 2}, failureBudget={"perWave": "50%", "perRun": 1},
            gates={"soak": "60s", "checks": [{"name": "a", "query": "up", "successCondition": "value > 0", "interval": "10s", "count": 4}]})
    )  # fmt: skip
    plan = make_plan(spec, fleet(10), shipped_arches=SHIPPED, node_seconds=100)
    assert [len(w) for w in plan.waves] == [2, 5, 3]
    assert plan.wave_budgets == [1, 2, 1] and plan.run_budget == 1
    assert plan.estimate_s == (1 + 3 + 2) * 100 + 3 * (60 + 30)


@given(st.lists(st.sampled_from(["amd64", "s390x", "ppc64le", "arm64"]), min_size=1, max_size=60), st.integers(1, 9))
def test_the_same_inputs_always_give_the_same_plan_covering_each_node_once(arches: list[str], first: int) -> None:
    nodes = [Candidate("c", f"n{i}", a, f"z{i % 3}", "3.28.0") for i, a in enumerate(arches)]
    spec = parse_plan(doc(waves={"sizes": [first, "30%"]}, safety={"minHealthyPercent": 0}))
    one, two = (
        make_plan(spec, nodes, shipped_arches=SHIPPED),
        make_plan(spec, list(reversed(nodes)), shipped_arches=SHIPPED),
    )
    assert [[c.key for c in w] for w in one.waves] == [[c.key for c in w] for w in two.waves]
    assert sorted(c.key for c in one.nodes) == sorted(c.key for c in nodes)


def test_percentages_round_up_for_waves_and_down_for_budgets() -> None:
    assert resolve_size("10%", 15) == 2 and resolve_size("10%", 15, minimum=0, round_up=False) == 1
    assert resolve_size("10%", 3, minimum=0, round_up=False) == 0 and resolve_size(4, 100) == 4


@pytest.mark.parametrize("name", ["upgrade-plan.yaml", "upgrade-plan-gated.yaml"])
def test_the_documented_example_plans_are_valid(name: str) -> None:
    from pathlib import Path

    from upgrades.planfile import load_plan

    spec = load_plan(Path(__file__).resolve().parents[2] / "docs" / "examples" / name)
    assert spec.target == "4.1.0"


def test_the_demo_plans_are_valid() -> None:
    from fleetctl.cli.demo import PLAN, guided_plan

    for scrape_s in (1.0, 8.0):
        guided = parse_plan(guided_plan(scrape_s), where="guided")
        assert guided.gates.checks and guided.selection.zones == ("eu-de-1",) and guided.waves.order == "arch-zone"
    assert "[32s]" in guided.gates.checks[0].query and guided.gates.soak_s == 16  # four scrapes; two
    assert not parse_plan(PLAN, where="plan").gates.enabled


def test_a_wave_starts_its_slowest_installing_arch_first_and_holds_the_faster_back() -> None:
    from datetime import UTC, datetime

    from store.runs import StepView
    from upgrades.executor import HOLD_SHARE, start_order

    arches = {1: "amd64", 2: "s390x", 3: "ppc64le", 4: "amd64", 5: "arm64"}
    steps = [
        StepView(i, 1, "c", f"n{i}", "claim", "pending", None, "4.1.0", False, 0, "", {}, i, None, datetime.now(UTC))
        for i in arches
    ]  # fmt: skip
    ordered, hold = start_order(
        steps, lambda s: arches[s.id], {"amd64": [3.0, 4.0, 5.0], "s390x": [8.0], "ppc64le": [6.0]}
    )
    assert [s.id for s in ordered] == [2, 3, 1, 4, 5]  # s390x, ppc64le, amd64 in plan order, unknown arm64 last
    assert hold == {2: 0.0, 3: HOLD_SHARE * 2.0, 1: HOLD_SHARE * 4.0, 4: HOLD_SHARE * 4.0}  # arm64: no hold
    assert start_order(steps, lambda s: arches[s.id], {}) == (steps, {})
