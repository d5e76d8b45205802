"""From a plan file and the store to a plan, and from a plan to a stored run (and rollbacks)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from collectors.releases.catalog import ensure_catalog
from store.engine import Store
from store.errors import BadInputError
from store.models import NodeStep, Release
from store.query.reading import read_nodes
from store.runs import DraftNode, StepFacts, create_run, read_run, set_run
from store.states import RunKind, RunState, Step, StepState
from upgrades.planfile import PlanSpec
from upgrades.planner import Candidate, Plan, make_plan
from upgrades.rundoc import RunPlan

MIN_HISTORY = 5  # node timings needed before the estimate uses history instead of spec.estimate


def candidates(store: Store, spec: PlanSpec) -> list[Candidate]:
    """Every present node, marked selected and pinned as the plan's selector says."""
    at = datetime.now(UTC)
    sel = spec.selection
    every = read_nodes(store, where=None, selector=None, now=at).items
    if not every:
        raise BadInputError("the store has no nodes", where="store", hint="run fleetctl collect first")
    matched = (
        {(i.cluster, i.name) for i in read_nodes(store, where=sel.where, selector=sel.label_selector, now=at).items}
        if sel.where or sel.label_selector
        else None
    )
    pinned = {(i.cluster, i.name) for i in read_nodes(store, where=None, selector=sel.pinned, now=at).items}
    out = []
    for i in every:
        key = (i.cluster, i.name)
        selected = (
            (matched is None or key in matched)
            and (not sel.clusters or i.cluster in sel.clusters)
            and (not sel.arches or i.arch in sel.arches)
            and (not sel.zones or i.zone in sel.zones)
        )
        out.append(
            Candidate(
                cluster=i.cluster, name=i.name, arch=i.arch, zone=i.zone, kata=i.kata_version, health=i.health,
                ready=bool(i.ready), cordoned=i.cordoned, custom_kernel=bool(i.custom_kernel), selected=selected,
                pinned=key in pinned, deploy=i.kata_deploy_version, runtime=i.container_runtime,
            )
        )  # fmt: skip
    return out


def shipped_arches(store: Store, version: str) -> tuple[str, ...]:
    """The arches the release ships, from the catalog (bundled, or synced from a feed)."""
    ensure_catalog(store)
    with store.read() as session:
        release = session.get(Release, version)
    if release is None:
        raise BadInputError(
            f"release {version} is not in the catalog",
            where="spec.target",
            hint="list releases with fleetctl releases list, or sync them with fleetctl releases sync",
        )
    return tuple(release.arches or ())


def node_seconds_from_history(store: Store) -> float | None:
    """The median time of a node's upgrade in earlier runs, when there are enough of them."""
    with store.read_connection() as conn:
        rows = conn.execute(
            sa.select(col(NodeStep.started_at), col(NodeStep.updated_at))
            .where(col(NodeStep.state) == StepState.DONE, col(NodeStep.started_at).is_not(None))
            .order_by(col(NodeStep.id).desc())
            .limit(500)
        ).all()
    spans = [(u - s).total_seconds() for s, u in rows if s and u]
    return statistics.median(spans) if len(spans) >= MIN_HISTORY else None


def plan_from_store(store: Store, spec: PlanSpec) -> Plan:
    """The plan for ``spec`` over the fleet the store holds."""
    return make_plan(
        spec, candidates(store, spec), shipped_arches=shipped_arches(store, spec.target),
        node_seconds=node_seconds_from_history(store),
    )  # fmt: skip


def run_document(plan: Plan, deployments: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """What a run stores about its plan: the file as written, the resolved budgets, and (when the
    caller checked the clusters first) each cluster's deployment."""
    return RunPlan(
        source=plan.spec.source,
        pool=tuple(sorted(c.key for c in plan.nodes) + sorted(e.node.key for e in plan.excluded if e.node.selected)),
        max_unavailable=plan.max_unavailable,
        wave_budgets=tuple(plan.wave_budgets),
        run_budget=plan.run_budget,
        estimate_seconds=plan.estimate_s,
        excluded=len(plan.excluded),
        deployments=deployments or {},
    ).document()


def create_run_from_plan(store: Store, plan: Plan, deployments: dict[str, dict[str, str]] | None = None) -> int:
    """Store the plan as a pending run (with the clusters' deployments, when they were detected)."""
    if not plan.nodes:
        raise BadInputError(
            "the plan selects no node to upgrade",
            where="spec.selector",
            hint="see fleetctl upgrade plan FILE for the reasons",
        )
    waves = [[DraftNode(c.cluster, c.name, c.kata, plan.spec.target) for c in wave] for wave in plan.waves]
    return create_run(
        store, name=plan.spec.name, target=plan.spec.target, plan=run_document(plan, deployments), waves=waves
    )


def create_rollback(store: Store, run_id: int) -> int:
    """A run that takes ``run_id``'s changed nodes back to their previous release, through the same flow.

    A changed node is one whose install started: done, or failed at install or verify. Nodes
    are grouped by the release they go back to (one wave each, since kata-deploy has one
    template at a time), newest-changed first. Gates are off: the release being left is the suspect.
    Verify expects the runtime handlers each node had before the upgrade, not the newer release's.
    """
    view = read_run(store, run_id)
    if view.run.kind == "rollback":
        raise BadInputError(f"run {run_id} is itself a rollback", where="run", hint="roll forward with a new plan")
    if view.run.state in (RunState.RUNNING, RunState.PAUSING, RunState.ABORTING) and view.run.holder:
        raise BadInputError(
            f"run {run_id} is {view.run.state}", where="run", hint=f"pause it first: fleetctl upgrade pause {run_id}"
        )
    changed = [
        s for s in view.steps
        if s.from_version and (s.state == StepState.DONE or (s.state == StepState.FAILED and s.step in (Step.INSTALL, Step.VERIFY)))
    ]  # fmt: skip
    if not changed:
        raise BadInputError(f"run {run_id} changed no node", where="run", hint="nothing to roll back")
    groups: dict[str, list[DraftNode]] = {}
    for s in sorted(changed, key=lambda s: -s.position):
        assert s.from_version is not None
        expect = StepFacts(expectHandlers=s.facts["handlers"]) if "handlers" in s.facts else StepFacts()
        groups.setdefault(s.from_version, []).append(
            DraftNode(s.cluster, s.node, s.target_version, s.from_version, facts=expect)
        )
    plan = (
        RunPlan.parse(view.run.plan)
        .for_rollback(
            f"{view.run.name}-rollback", next(iter(groups)), tuple(len(g) for g in groups.values()), len(changed)
        )
        .document()
    )
    rollback_id = create_run(
        store, name=f"{view.run.name}-rollback", target="previous", plan=plan, waves=list(groups.values()),
        kind=RunKind.ROLLBACK, parent_id=run_id,
    )  # fmt: skip
    set_run(store, run_id, state=RunState.ROLLED_BACK, message=f"rolled back by run {rollback_id}")
    return rollback_id
