"""Planning a rollout: a pure function from a plan file and the fleet to ordered waves.

The same inputs always give the same plan. Every node left out has a reason, and the safety
checks that would stop ``apply`` are computed here, so ``plan`` shows them first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from store.errors import VersionParseError
from store.versions import KataVersion
from upgrades.planfile import PlanSpec, resolve_size

# Exclusion reasons, in the order they are tested: a node gets the first that applies.
OUTSIDE = "outside-selector"
PINNED = "pinned"
ARCH = "arch-not-shipped"
NO_KATA = "no-kata"
AT_TARGET = "already-at-target"
DOWNGRADE = "downgrade"
UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class Candidate:
    """A node as the planner sees it (from the store)."""

    cluster: str
    name: str
    arch: str | None
    zone: str | None
    kata: str | None
    health: str = "unknown"
    ready: bool = True
    cordoned: bool = False
    custom_kernel: bool = False
    selected: bool = True  # matches the plan's clusters, labels, arch, zones and query
    pinned: bool = False
    deploy: str | None = None  # the kata-deploy pod's image tag: what a restart of that pod installs
    runtime: str | None = None  # the node's container runtime (containerd://2.3.1): pre-flight checks read it

    @property
    def key(self) -> str:
        """cluster/name: unique across the fleet."""
        return f"{self.cluster}/{self.name}"


@dataclass(frozen=True)
class Excluded:
    """A node the plan leaves alone, and why."""

    node: Candidate
    reason: str
    detail: str


@dataclass
class Plan:
    """Ordered waves of nodes, what was left out, the budgets and the estimate."""

    spec: PlanSpec
    waves: list[list[Candidate]]
    excluded: list[Excluded]
    max_unavailable: int
    unavailable_now: int
    wave_budgets: list[int]
    run_budget: int
    estimate_s: float
    custom_kernel: list[Candidate] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    @property
    def nodes(self) -> list[Candidate]:
        """Every in-scope node, in rollout order."""
        return [n for wave in self.waves for n in wave]


def make_plan(
    spec: PlanSpec, fleet: Iterable[Candidate], *, shipped_arches: Iterable[str], node_seconds: float | None = None
) -> Plan:
    """Waves for ``spec`` over ``fleet``; ``shipped_arches`` are the target release's arches."""
    target = KataVersion.parse(spec.target)
    shipped = set(shipped_arches)
    nodes = sorted(fleet, key=lambda c: (c.cluster, c.name))
    scope: list[Candidate] = []
    excluded: list[Excluded] = []
    for node in nodes:
        reason = _exclusion(node, spec, target, shipped)
        if reason:
            excluded.append(Excluded(node, *reason))
        else:
            scope.append(node)
    order = spec.waves.order
    scope.sort(
        key=lambda c: (
            (c.zone or "~", c.arch or "~") if order == "zone-arch" else (c.arch or "~", c.zone or "~"),
            c.cluster,
            c.name,
        )
    )
    waves = _split(scope, spec.waves.sizes)
    selected = [n for n in nodes if n.selected and not n.pinned]
    max_unavailable = resolve_size(spec.waves.max_unavailable, len(scope), round_up=False)
    unavailable = sum(1 for n in selected if not n.ready or n.cordoned)
    plan = Plan(
        spec=spec,
        waves=waves,
        excluded=excluded,
        max_unavailable=max_unavailable,
        unavailable_now=unavailable,
        wave_budgets=[resolve_size(spec.budget.per_wave, len(w), minimum=0, round_up=False) for w in waves],
        run_budget=resolve_size(spec.budget.per_run, len(scope), minimum=0, round_up=False),
        estimate_s=0.0,
        custom_kernel=[n for n in scope if n.custom_kernel],
    )
    plan.estimate_s = estimate(plan, spec.node_seconds if node_seconds is None else node_seconds)
    plan.refusals = _refusals(plan, selected)
    return plan


def _exclusion(node: Candidate, spec: PlanSpec, target: KataVersion, shipped: set[str]) -> tuple[str, str] | None:
    if not node.selected:
        return OUTSIDE, "not matched by the plan's selector"
    if node.pinned:
        return PINNED, f"carries the pin label ({spec.selection.pinned})"
    if node.arch not in shipped:
        return ARCH, f"{spec.target} ships no {node.arch or 'unknown-arch'} build"
    if not node.kata:
        return NO_KATA, "no Kata release is installed (kata-deploy has not run here)"
    try:
        current = KataVersion.parse(node.kata)
    except (ValueError, VersionParseError):
        return NO_KATA, f"the installed release {node.kata!r} cannot be read"
    if current.sort_key() == target.sort_key() and _deploy_agrees(node.deploy, target):
        return AT_TARGET, f"already runs {spec.target}"
    if current.sort_key() > target.sort_key() and not spec.allow_downgrade:
        return DOWNGRADE, f"runs {node.kata}, newer than {spec.target} (allowDowngrade is off)"
    if node.health == "crit" or not node.ready:
        return UNHEALTHY, "health is crit" if node.health == "crit" else "the node is NotReady"
    return None


def _deploy_agrees(deploy: str | None, target: KataVersion) -> bool:
    """True unless the node's kata-deploy pod is at another release: that pod would put the old
    release back the next time it restarts, so such a node still needs the install."""
    have = KataVersion.try_parse(deploy)
    return have is None or have.sort_key() == target.sort_key()  # a digest or "latest": nothing to compare


def _split(nodes: Sequence[Candidate], sizes: Sequence[int | str]) -> list[list[Candidate]]:
    """Consecutive waves; percentages are of all in-scope nodes; the last size repeats."""
    waves, i, k = [], 0, 0
    while i < len(nodes):
        size = resolve_size(sizes[min(k, len(sizes) - 1)], len(nodes))
        waves.append(list(nodes[i : i + size]))
        i, k = i + size, k + 1
    return waves


def estimate(plan: Plan, node_seconds: float) -> float:
    """Seconds: per wave, node batches at the parallelism allowed, then the soak and the checks."""
    parallel = max(1, plan.max_unavailable - plan.unavailable_now)
    gates = plan.spec.gates
    gate_s = max(((c.count - 1) * c.interval_s for c in gates.checks), default=0.0) if gates.enabled else 0.0
    per_wave = [
        math.ceil(len(w) / parallel) * node_seconds + (gates.soak_s + gate_s if gates.enabled else 0.0)
        for w in plan.waves
    ]
    return sum(per_wave)


def _refusals(plan: Plan, selected: Sequence[Candidate]) -> list[str]:
    """Why ``apply`` must not start (empty: it may)."""
    out = []
    by_reason: dict[str, int] = {}
    for e in plan.excluded:
        by_reason[e.reason] = by_reason.get(e.reason, 0) + 1
    if by_reason.get(ARCH):
        out.append(
            f"{by_reason[ARCH]} selected nodes have an arch {plan.spec.target} does not ship: "
            "narrow spec.selector.arch to the shipped arches"
        )
    if by_reason.get(DOWNGRADE):
        out.append(
            f"{by_reason[DOWNGRADE]} selected nodes run a newer release: this would be a downgrade; "
            "pass --allow-downgrade (or spec.allowDowngrade: true) if that is meant"
        )
    considered = [n for n in selected if n.kata]
    if considered:
        healthy = sum(1 for n in considered if n.health != "crit" and n.ready)
        percent = 100.0 * healthy / len(considered)
        if percent < plan.spec.safety.min_healthy_percent:
            out.append(
                f"only {percent:.0f}% of the selected nodes are healthy (spec.safety.minHealthyPercent is "
                f"{plan.spec.safety.min_healthy_percent:g}): fix them first (fleetctl health)"
            )
    if plan.nodes and plan.unavailable_now >= plan.max_unavailable:
        out.append(
            f"{plan.unavailable_now} selected nodes are already unavailable, which uses the whole "
            f"maxUnavailable budget of {plan.max_unavailable}: bring them back or raise spec.waves.maxUnavailable"
        )
    return out
