"""deploy/ on the real control plane: RBAC proven by the real authorizer, the node reporter's
ValidatingAdmissionPolicy enforced by the real admission chain, and leader election on real Leases.

``serve`` and ``report-node`` run with the service-account tokens that deploy/ creates, never the
admin's. Removing any one rule of fleetctl's roles makes some step fail with a 403 that fleetctl
reports as a clear error (exit 3), so every rule is needed; tests/serve/test_rbac.py proves the
other half (every call fleetctl makes is allowed).
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.server import Simulator
from tests.support.fleet import FLEETCTL, NEWEST, Fleet, where_names
from tests.support.katatree import kata_tree
from tests.support.serve import Serve, window_starting_in
from tests.support.sim import kubectl, raw, wait_for
from upgrades.plandoc import plan_doc

pytestmark = pytest.mark.xdist_group("kube")
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SA = "system:serviceaccount:fleetctl:fleetctl"
USED: set[str] = {"kata-amd64-0004"}  # nodes a step of this module has upgraded (or another test touched)


def ok(sim: Simulator, *args: str, stdin: str | None = None) -> str:
    cache = sim.out_dir / "kube-cache"
    result = subprocess.run(
        [str(Path(FLEETCTL[0]).parent / "kubectl"), "--kubeconfig", str(sim.kubeconfig), "--cache-dir", str(cache), *args],
        input=stdin, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def deployed(kube: Simulator) -> dict[str, Path]:
    """deploy/ applied; kubeconfigs with the fleetctl and node-reporter service accounts' tokens."""
    ok(kube, "apply", "-f", str(DEPLOY / "namespace.yaml"))
    ok(kube, "apply", "-f", str(DEPLOY / "rbac.yaml"), "-f", str(DEPLOY / "node-reporter.yaml"))
    assert kube.kube is not None
    token = ok(kube, "create", "token", "fleetctl", "-n", "fleetctl", "--duration=2h").strip()
    return {"fleetctl": kube.kube.plane.token_kubeconfig("fleetctl-sa", token)}


def fresh(kube: Simulator, count: int, taken: set[str]) -> list[str]:
    """Nodes not yet at the newest release and not used by another step."""
    out = [n for n, t in sorted(kube.world.nodes.items()) if t.installed != NEWEST and n not in taken][:count]
    taken.update(out)
    return out


def test_serve_collects_and_rolls_out_with_its_service_account_and_fails_over(
    kube: Simulator, deployed: dict[str, Path], tmp_path: Path
) -> None:
    fleet = Fleet(kube, tmp_path, kubeconfig=deployed["fleetctl"])  # a collection with the token
    nodes = fresh(kube, 4, USED)
    plan = fleet.plan_file(
        "scheduled", selector={"where": where_names(nodes)}, waves={"sizes": [1], "maxUnavailable": 1}
    )
    window, _ = window_starting_in(2, every=3600, duration=3600)
    assert fleet.run("schedule", "add", plan, "--window", window, "--duration", "1h").returncode == 0
    a = Serve(fleet, "a")
    wait_for(lambda: "leading" in a.get("/readyz")[1], what="a leads")
    b = Serve(fleet, "b")
    try:
        wait_for(lambda: b.get("/readyz")[0] == 200 and "following" in b.get("/readyz")[1], what="b follows")
        wait_for(lambda: sum(kube.world.nodes[n].installed == NEWEST for n in nodes) >= 1, what="a mid-rollout")
        lease = json.loads(ok(kube, "get", "lease", "fleetctl-serve", "-n", "kube-system", "-o", "json"))["spec"]
        a.stop(signal.SIGKILL)
        wait_for(lambda: "leading" in b.get("/readyz")[1], what="b takes over the real Lease")
        taken = json.loads(ok(kube, "get", "lease", "fleetctl-serve", "-n", "kube-system", "-o", "json"))["spec"]
        assert taken["holderIdentity"].split("/")[1] == str(b.proc.pid)
        assert taken.get("leaseTransitions", 0) == lease.get("leaseTransitions", 0) + 1
        wait_for(lambda: all(kube.world.nodes[n].installed == NEWEST for n in nodes), what="b finishes the rollout")
        wait_for(lambda: fleet.status().get("state") == "done", what="the run done")
    finally:
        assert b.stop() == 0
    assert "Traceback" not in a.text() + b.text()
    assert not set(nodes) & set(fleet.cordoned())


def _roles() -> list[dict[str, Any]]:
    return [
        d for d in yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text()) if d and d["kind"] in ("ClusterRole", "Role")
    ]


RULES = [(i, j) for i, role in enumerate(_roles()) for j in range(len(role["rules"]))]


def _can_i(kube: Simulator, rule: dict[str, Any], namespace: str | None) -> bool:
    resource, _, sub = rule["resources"][0].partition("/")
    group = rule["apiGroups"][0]
    target = f"{resource}.{group}" if group else resource
    args = ["auth", "can-i", rule["verbs"][0], target, f"--as={SA}", *(["-n", namespace] if namespace else [])]
    args += [f"--subresource={sub}"] if sub else []
    return kubectl(kube, *args).stdout.strip() == "yes"


@pytest.mark.parametrize(("role_index", "rule_index"), RULES, ids=[f"{r['metadata'].get('namespace', 'cluster')}-{r['kind']}-rule{j}" for r in _roles() for j in range(len(r["rules"]))])  # fmt: skip
def test_every_rule_is_needed(
    kube: Simulator, deployed: dict[str, Path], tmp_path: Path, role_index: int, rule_index: int
) -> None:
    role = _roles()[role_index]
    namespace = role["metadata"].get("namespace")
    rule = role["rules"][rule_index]
    reduced = copy.deepcopy(role)
    del reduced["rules"][rule_index]
    ok(kube, "replace", "-f", "-", stdin=yaml.safe_dump(reduced))
    try:
        wait_for(lambda: not _can_i(kube, rule, namespace), what="the authorizer to drop the rule")
        failures = _steps_without(kube, deployed["fleetctl"], tmp_path, f"{role_index}-{rule_index}")
    finally:
        ok(kube, "replace", "-f", "-", stdin=yaml.safe_dump(role))
        wait_for(lambda: _can_i(kube, rule, namespace), what="the rule back")
    assert failures, f"{role['kind']} {namespace or ''} rule {rule}: every step succeeded without it"
    step, result = failures[0]
    assert result.returncode == 3, f"{step}: exit {result.returncode}: {result.stderr[-2000:]}"
    assert "forbidden" in result.stderr and SA in result.stderr, result.stderr[-2000:]  # the denied call, named
    assert "Traceback" not in result.stderr and "hint:" in result.stderr


def _steps_without(
    kube: Simulator, kubeconfig: Path, tmp: Path, name: str
) -> list[tuple[str, subprocess.CompletedProcess[str]]]:
    """A collection, then a one-node rollout with a smoke pod; the steps that failed (with what they printed)."""
    db = f"sqlite:///{tmp / 'rbac.db'}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*FLEETCTL, "--kubeconfig", str(kubeconfig), "--db", db, *args],
                              capture_output=True, text=True, timeout=600)  # fmt: skip

    collected = run("collect")
    if collected.returncode != 0:
        return [("collect", collected)]
    node = fresh(kube, 1, USED)[0]
    cordoned_before = set(_cordoned(kube))
    fleet_plan = tmp / "plan.yaml"
    spec = {
        "target": NEWEST, "selector": {"where": f"name in ({node})"}, "gates": {"enabled": False}, "drain": {"timeout": "2m"},
        "verify": {"smoke": {"runtimeClass": dict.fromkeys(("amd64", "s390x", "ppc64le"), "kata-qemu"), "timeout": "2m"}},
    }  # fmt: skip
    fleet_plan.write_text(yaml.safe_dump(plan_doc(f"rbac-{name}", spec)))
    applied = run("upgrade", "apply", str(fleet_plan), "--yes", "--poll", "0.05s", "--lease-ttl", "5s")
    assert not set(_cordoned(kube)) - cordoned_before, (
        f"a failed step left a node cordoned: {applied.stdout[-3000:]} {applied.stderr[-3000:]}"
    )
    return [("upgrade apply", applied)] if applied.returncode != 0 else []


def _cordoned(kube: Simulator) -> list[str]:
    return [n for n in kube.world.nodes if (kube.world.node_obj(n) or {}).get("spec", {}).get("unschedulable")]


def test_the_reporter_may_annotate_only_its_own_node(
    kube: Simulator, deployed: dict[str, Path], tmp_path: Path
) -> None:
    assert kube.kube is not None

    def reporter_pod() -> dict[str, Any] | None:
        pods = json.loads(ok(kube, "get", "pods", "-n", "fleetctl", "-o", "json"))["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return running[0] if running else None

    pod = wait_for(reporter_pod, what="a node reporter pod running")
    node = pod["spec"]["nodeName"]
    other = next(n for n in sorted(kube.world.nodes) if n != node)
    token = ok(kube, "create", "token", "fleetctl-node-reporter", "-n", "fleetctl", "--bound-object-kind=Pod",
               f"--bound-object-name={pod['metadata']['name']}").strip()  # fmt: skip
    reporter = kube.kube.plane.token_kubeconfig("reporter", token)
    kata = kata_tree(tmp_path)
    before = json.loads(ok(kube, "get", "node", node, "-o", "json"))["metadata"].get("annotations") or {}
    try:
        own = subprocess.run([*FLEETCTL, "--kubeconfig", str(reporter), "report-node", "--node", node, "--kata-dir", str(kata)],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert own.returncode == 0, own.stderr
        annotations = json.loads(ok(kube, "get", "node", node, "-o", "json"))["metadata"]["annotations"]
        assert annotations["reporter.fleetctl.io/version-file"] == "4.1.0"
    finally:  # the stand-in tree says 4.1.0 whatever the node runs: put back what the world reported, or a
        # later rollout (tests/kube/test_rollout.py) finds this node "already at 4.1.0" and never installs it
        _restore_reporter_annotations(kube, node, before)
    theirs = subprocess.run([*FLEETCTL, "--kubeconfig", str(reporter), "report-node", "--node", other, "--kata-dir", str(kata)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert theirs.returncode != 0 and "the node reporter may patch only the node it runs on" in theirs.stderr
    assert "Traceback" not in theirs.stderr
    body = json.dumps({"metadata": {"labels": {"x": "y"}}}).encode()
    status, answer = raw(
        kube, f"/api/v1/nodes/{node}", "PATCH", body, {"Content-Type": "application/merge-patch+json"}, token
    )
    assert status in (403, 422) and "may change only reporter.fleetctl.io/* annotations" in answer["message"], answer


def _restore_reporter_annotations(kube: Simulator, node: str, before: dict[str, str]) -> None:
    """Set the node's ``reporter.fleetctl.io/*`` annotations back to ``before`` (as the admin)."""
    now = json.loads(ok(kube, "get", "node", node, "-o", "json"))["metadata"].get("annotations") or {}
    keys = {k for k in (*now, *before) if k.startswith("reporter.fleetctl.io/")}
    patch = {"metadata": {"annotations": {k: before.get(k) for k in keys}}}
    ok(kube, "patch", "node", node, "--type", "merge", "-p", json.dumps(patch))
