"""A collected simulator and the fleetctl commands a user runs against it (rollout tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from simulator.server import Simulator
from tests.support.sim import admin
from upgrades.plandoc import plan_doc

FLEETCTL = [sys.executable, "-m", "fleetctl"]
NEWEST = "4.1.0"


class Fleet:
    """A collected simulator and the commands a user runs against it."""

    def __init__(
        self, sim: Simulator, tmp: Path, prometheus: str | None = None, *, kubeconfig: Path | None = None
    ) -> None:
        self.sim, self.tmp, self.prometheus = sim, tmp, prometheus
        self.kubeconfig = kubeconfig or sim.kubeconfig  # another identity's (a service account's), or the admin's
        self.db = f"sqlite:///{tmp / 'fleet.db'}"
        collected = self.run("collect")
        assert collected.returncode == 0, collected.stderr

    def args(self, *args: str) -> list[str]:
        return [*FLEETCTL, "--kubeconfig", str(self.kubeconfig), "--db", self.db, *args]

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.args(*args), capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout
        )

    def plan_file(self, name: str = "p", **spec: Any) -> str:
        spec.setdefault("target", NEWEST)
        spec.setdefault("gates", {"enabled": False})
        spec.setdefault("drain", {"timeout": "2m"})  # generous: a slow machine drains slowly
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(plan_doc(name, spec)))
        return str(path)

    def apply(self, plan: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        prom = ("--prometheus", self.prometheus) if self.prometheus else ()
        return self.run(
            "upgrade", "apply", plan, "--yes", "--poll", "0.05s", "--lease-ttl", "5s", *prom, *extra, env=env
        )

    def status(self, run: int | None = None) -> dict[str, Any]:
        result = self.run("upgrade", "status", *([str(run)] if run else []), "-o", "json")
        assert result.returncode == 0, result.stderr
        doc: dict[str, Any] = json.loads(result.stdout)
        return doc

    def node(self, name: str) -> dict[str, Any]:
        out = subprocess.run(
            [str(Path(sys.executable).parent / "kubectl"), "--kubeconfig", str(self.sim.kubeconfig), "get", "node", name, "-o", "json"],
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        doc: dict[str, Any] = json.loads(out.stdout)
        return doc

    def installed(self) -> dict[str, str | None]:
        return {n: t["installed"] for n, t in self.sim.world.truth().items()}

    def deletions(self) -> dict[str, int]:
        stats: dict[str, Any] = admin(self.sim, "/_sim/stats")
        return dict(stats["kataDeployPodDeletions"])

    def cordoned(self) -> list[str]:
        return [
            n for n in self.sim.world.nodes if (self.sim.world.node_obj(n) or {}).get("spec", {}).get("unschedulable")
        ]


def names(fleet: Fleet, arch: str, count: int) -> list[str]:
    return sorted(n for n, t in fleet.sim.world.truth().items() if t["arch"] == arch and t["installed"] != NEWEST)[
        :count
    ]


def where_names(nodes: list[str]) -> str:
    return "name in (" + ", ".join(nodes) + ")"
