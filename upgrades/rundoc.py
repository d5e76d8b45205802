"""The plan a run stores (``upgrade_run.plan``), parsed once into a typed ``RunPlan``.

A run keeps the plan file as written (``source``) and what planning resolved from it: the pool
of nodes whose availability counts, ``maxUnavailable``, the failure budgets and the estimate.
Every reader (the executor, resume, the dashboard, rollback) goes through ``RunPlan``, so the
document's keys are written here once, and so is the rule for whether a run needs Prometheus.
"""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass, field, replace
from typing import Any


def gates_need_prometheus(enabled: bool, checks: Sized) -> bool:
    """The one rule for whether gates need Prometheus: they are on and have checks. ``RunPlan``
    applies it to a stored run, and apply and rehearse to a plan file's ``spec.gates``."""
    return enabled and len(checks) > 0


@dataclass(frozen=True)
class RunPlan:
    """A run's stored plan."""

    source: dict[str, Any]  # the plan file as written (apiVersion, kind, metadata, spec)
    pool: tuple[str, ...] = ()  # "cluster/node" of every selected node, planned or excluded
    max_unavailable: int = 1
    wave_budgets: tuple[int, ...] = ()
    run_budget: int = 0
    estimate_seconds: float = 0.0
    excluded: int = 0
    deployments: dict[str, dict[str, str]] = field(default_factory=dict)  # by cluster: upgrades.deployment's documents
    extra: dict[str, Any] = field(default_factory=dict)  # keys a newer fleetctl wrote, kept as they were

    @classmethod
    def parse(cls, doc: dict[str, Any] | None) -> RunPlan:
        """The stored document as a ``RunPlan`` (a missing key takes its default)."""
        doc = dict(doc or {})
        known = {
            "source",
            "pool",
            "maxUnavailable",
            "waveBudgets",
            "runBudget",
            "estimateSeconds",
            "excluded",
            "deployments",
        }
        return cls(
            source=dict(doc.get("source") or {}),
            pool=tuple(str(p) for p in doc.get("pool") or ()),
            max_unavailable=int(doc.get("maxUnavailable") or 1),
            wave_budgets=tuple(int(b) for b in doc.get("waveBudgets") or ()),
            run_budget=int(doc.get("runBudget") or 0),
            estimate_seconds=float(doc.get("estimateSeconds") or 0.0),
            excluded=int(doc.get("excluded") or 0),
            deployments={str(k): dict(v) for k, v in (doc.get("deployments") or {}).items()},
            extra={k: v for k, v in doc.items() if k not in known},
        )

    def document(self) -> dict[str, Any]:
        """The form stored in ``upgrade_run.plan``."""
        return {
            **self.extra,
            "source": self.source,
            "pool": list(self.pool),
            "maxUnavailable": self.max_unavailable,
            "waveBudgets": list(self.wave_budgets),
            "runBudget": self.run_budget,
            "estimateSeconds": round(self.estimate_seconds, 1),
            "excluded": self.excluded,
            **({"deployments": self.deployments} if self.deployments else {}),
        }

    @property
    def spec(self) -> dict[str, Any]:
        """The plan file's ``spec``."""
        spec = self.source.get("spec")
        return spec if isinstance(spec, dict) else {}

    def needs_prometheus(self, kind: str = "upgrade") -> bool:
        """Whether executing the run needs Prometheus: an upgrade whose gates are on and have checks
        (a rollback runs with its gates off)."""
        gates = self.spec.get("gates") or {}
        return kind == "upgrade" and gates_need_prometheus(bool(gates.get("enabled", True)), gates.get("checks") or ())

    def for_rollback(self, name: str, target: str, wave_budgets: tuple[int, ...], run_budget: int) -> RunPlan:
        """The plan of the run that rolls this one back: gates off, downgrades allowed, its own budgets."""
        spec = {**self.spec, "gates": {"enabled": False}, "allowDowngrade": True, "target": target}
        source = {**self.source, "spec": spec, "metadata": {"name": name[:253]}}
        return replace(self, source=source, wave_budgets=wave_budgets, run_budget=run_budget)
