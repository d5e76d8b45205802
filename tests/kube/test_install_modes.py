"""kata-deploy's job mode and a label-gated installer on the real control plane: the real Job
controller runs each install Job fleetctl creates, and the real DaemonSet controller moves a node's
installer pod when fleetctl changes its label. A rollout and its rollback each, through the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.installmode import InstallMode
from simulator.server import ServerOptions, Simulator
from store.migrate import open_store
from store.runs import audit_rows
from tests.support.fleet import NEWEST, Fleet, where_names

pytestmark = pytest.mark.xdist_group("kube")


@pytest.fixture(params=[InstallMode.JOB, InstallMode.LABEL], ids=["job", "label"])
def plane(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Simulator]:
    """A small fleet of its own on a real control plane, deployed the given way."""
    options = ServerOptions(
        profile="small", nodes=8, seed=5, time_scale=20, backend="kube-apiserver", out_dir=tmp_path / "kube",
        churn=False, cluster_name="kube", install_mode=request.param,
    )  # fmt: skip
    with Simulator(options) as sim:
        yield sim


def test_a_rollout_and_its_rollback_by_jobs_or_by_label_on_the_real_controllers(
    plane: Simulator, tmp_path: Path
) -> None:
    fleet = Fleet(plane, tmp_path)
    chosen = sorted(n for n, t in plane.world.truth().items() if t["installed"] not in (NEWEST, "3.28.0"))[:2]
    before = {n: fleet.installed()[n] for n in chosen}
    plan = fleet.plan_file(selector={"where": where_names(chosen)}, waves={"sizes": [2], "maxUnavailable": 2})
    result = fleet.apply(plan)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert {n: fleet.installed()[n] for n in chosen} == dict.fromkeys(chosen, NEWEST)
    assert not set(chosen) & set(fleet.cordoned())
    with open_store(fleet.db) as store:
        actions = {(a.action, a.target) for a in audit_rows(store, 1)}
    if plane.options.install_mode == InstallMode.JOB:
        assert {("create-job", f"job/kube-system/kata-deploy-install-{n}") for n in chosen} <= actions
        # fleetctl created Jobs only, never a pod: the install pods, and so the installs, came from the real Job controller
        assert not {a for a, _ in actions} & {"create-pod", "delete-pod", "set-image"}
    else:
        assert {("label", f"node/{n}") for n in chosen} <= actions
        labels = {n: fleet.node(n)["metadata"]["labels"].get("fleetctl.io/kata-release") for n in chosen}
        assert labels == dict.fromkeys(chosen, NEWEST)
    rolled = fleet.run("upgrade", "rollback", "1", "--yes", "--poll", "0.05s")
    assert rolled.returncode == 0, rolled.stderr[-3000:] + rolled.stdout[-3000:]
    assert {n: fleet.installed()[n] for n in chosen} == before
    assert not set(chosen) & set(fleet.cordoned())
