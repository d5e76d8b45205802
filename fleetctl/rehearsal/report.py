"""A rehearsal as text for people and as a document for scripts."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from fleetctl.output import NONE, rehearsal_document, table
from fleetctl.rehearsal.runner import NodeResult, Rehearsal
from store.durations import format_duration
from store.states import GateState, StepState


def _d(seconds: float | None) -> str:
    return format_duration(timedelta(seconds=round(seconds))) if seconds is not None else NONE


def blocked(r: Rehearsal) -> list[NodeResult]:
    """Nodes whose drain a PodDisruptionBudget held up, or that waited for build pods or timed out."""
    return [n for n in r.nodes if n.refused or n.waited_for_builds or "drain timed out" in n.message]


def window_fit(r: Rehearsal) -> str | None:
    """How the predicted duration compares with the plan's window, if it has one."""
    window = r.plan.spec.window
    if window is None:
        return None
    length = _d(window.duration_s)
    if r.seconds <= window.duration_s:
        return f"fits in one {length} window"
    return f"needs about {math.ceil(r.seconds / window.duration_s)} windows of {length} (the run pauses between them)"


def outcome(r: Rehearsal) -> str:
    """One line: how the run would end."""
    if r.completes:
        return f"done: every node upgraded in {_d(r.seconds)}"
    stopped = next((w for w in r.waves if w.gate_state in (GateState.FAILED, GateState.INCONCLUSIVE)), None)
    if stopped is not None:
        return f"{r.state} at wave {stopped.number} after {_d(r.seconds)}: {stopped.gate_message}"
    failed = [n for n in r.nodes if n.state in (StepState.FAILED, StepState.SKIPPED)]
    text = f"{r.state} after {_d(r.seconds)}"
    if r.message:
        text += f": {r.message}"
    if failed:
        text += f" ({len(failed)} nodes failed or skipped)"
    return text


def print_text(r: Rehearsal, echo: Any) -> None:
    """The report for a terminal."""
    plan = r.plan
    echo(
        f"rehearsal of {plan.spec.name}: Kata {plan.spec.target} on {len(plan.nodes)} nodes in "
        f"{len(plan.waves)} waves, simulated at x{r.time_scale:g}"
    )
    for c in r.copies:
        line = f"copied {c.cluster}: {c.nodes} nodes from the store"
        if c.workloads == "copied":
            line += f"; {c.pods} pods ({c.builds} builds, {c.recreated} recreated by controllers) and {c.pdbs} PDBs from the cluster"
        else:
            line += f"; workloads {c.workloads}"
        echo(line)
        if c.approximated:
            echo(
                f"  {len(c.approximated)} nodes run a release the simulator does not model, e.g. "
                + next(iter(c.approximated.items()))[1]
            )
    echo(f"gates: {r.gates}")
    rows = [
        [w.number, w.size, w.state, _d(w.seconds), w.slowest or NONE,
         w.gate_state or NONE if not w.gate_message else f"{w.gate_state}: {w.gate_message}"[:80]]
        for w in r.waves
    ]  # fmt: skip
    echo("\n" + table(["wave", "nodes", "state", "duration", "slowest", "gate"], rows))
    echo(f"\npredicted: {outcome(r)}; the plan's estimate was {_d(plan.estimate_s)}")
    fit = window_fit(r) if r.completes else None
    if fit:
        echo(f"window: {fit}")
    held = blocked(r)
    if held:
        echo(f"\ndrains held up ({len(held)} nodes):")
        echo(table(["node", "wave", "drain", "refusals", "by", "outcome"], [_held_row(n) for n in held[:50]]))
    builds = sum(n.builds_evicted for n in r.nodes)
    if builds:
        nodes = sum(1 for n in r.nodes if n.builds_evicted)
        echo(
            f"\nbuilds the drains would evict: {builds} on {nodes} nodes; a PodDisruptionBudget over the build pods "
            "makes drains wait for them instead (drain.onTimeout: wait-for-builds)"
        )
    failed = [n for n in r.nodes if n.state in (StepState.FAILED, StepState.SKIPPED) and n not in held]
    if failed:
        echo(f"\nnodes failed or skipped ({len(failed)}):")
        echo(table(["node", "wave", "state", "message"], [[n.name, n.wave, n.state, n.message[:100]] for n in failed]))


def _held_row(n: NodeResult) -> list[Any]:
    result = f"{n.state}: {n.message}"[:90] if n.message else n.state
    return [n.name, n.wave, _d(n.drain_seconds), n.refused, ", ".join(n.refused_by) or NONE, result]


def to_document(r: Rehearsal) -> dict[str, Any]:
    """The report for ``-o json`` and ``-o yaml``."""
    return rehearsal_document(r, outcome(r), window_fit(r))
