"""deploy/'s RBAC is exactly what fleetctl uses: every API call made during a collect (once and
watching), rollouts (evictions, a smoke pod, and eviction bypassed) and a serve run is allowed
by the rules, and every rule is used by some call. The node reporter likewise."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from simulator.server import Simulator
from tests.support.cli import default_sigint
from tests.support.fleet import Fleet, names, where_names
from tests.support.serve import Serve, window_starting_in
from tests.support.sim import admin, wait_for

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
Call = tuple[str, str, str, str | None]  # verb, group, resource[/subresource], namespace (None: cluster-wide)


def grants(path: Path, account: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(namespace or None for a ClusterRole, rule) for every rule bound to ``account``."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    bound = {
        (d["roleRef"]["kind"], d["roleRef"]["name"], d["metadata"].get("namespace"))
        for d in docs
        if d["kind"] in ("RoleBinding", "ClusterRoleBinding") and any(s["name"] == account for s in d["subjects"])
    }
    out = []
    for d in docs:
        if d["kind"] in ("Role", "ClusterRole"):
            ns = d["metadata"].get("namespace")
            if (d["kind"], d["metadata"]["name"], ns) in bound:
                out.extend((ns, rule) for rule in d["rules"])
    return out


def allowed(call: Call, rules: Iterable[tuple[str | None, dict[str, Any]]]) -> list[tuple[str | None, str, str, str]]:
    """The (namespace, group, resource, verb) grants that let ``call`` through."""
    verb, group, resource, ns = call
    return [
        (rns, group, resource, verb)
        for rns, rule in rules
        if (rns is None or rns == ns) and group in rule["apiGroups"] and resource in rule["resources"]
        and verb in rule["verbs"]
    ]  # fmt: skip


def recorded(sim: Simulator) -> set[Call]:
    log: list[dict[str, Any]] = admin(sim, "/_sim/requests?clear=1")
    return {
        (r["verb"], r["group"], r["resource"] + (f"/{r['subresource']}" if r["subresource"] else ""), r["namespace"])
        for r in log
    }


def check(calls: set[Call], rules: list[tuple[str | None, dict[str, Any]]]) -> None:
    refused = sorted(c for c in calls if not allowed(c, rules))
    assert not refused, f"calls the RBAC in deploy/ does not allow: {refused}"
    used = {grant for c in calls for grant in allowed(c, rules)}
    unused = sorted(
        (ns, g, res, verb)
        for ns, rule in rules
        for g in rule["apiGroups"]
        for res in rule["resources"]
        for verb in rule["verbs"]
        if (ns, g, res, verb) not in used
    )  # fmt: skip
    assert not unused, f"rules in deploy/ that no call needs: {unused}"


def test_serve_rbac_allows_every_call_and_nothing_more(fresh_sim: Simulator, tmp_path: Path) -> None:
    fleet = Fleet(fresh_sim, tmp_path)
    recorded(fresh_sim)  # clears the log
    assert fleet.run("collect").returncode == 0
    # Ctrl-C as at a terminal: a suite started in the background (`make test &`) ignores SIGINT, and its
    # children would inherit that, so the watcher gets the default disposition back.
    watcher = subprocess.Popen(
        fleet.args("collect", "--watch", "--interval", "1s"), stdout=subprocess.DEVNULL, preexec_fn=default_sigint
    )
    rules = grants(DEPLOY / "rbac.yaml", "fleetctl")
    watchable = {res for _, rule in rules if "watch" in rule["verbs"] for res in rule["resources"]}

    def watching() -> bool:  # every watch the ClusterRole grants has been opened (the log is not cleared)
        return watchable <= {r["resource"] for r in admin(fresh_sim, "/_sim/requests") if r["verb"] == "watch"}

    try:
        wait_for(watching, what=f"collect --watch to watch {sorted(watchable)}")
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=300) == 130  # a safety net: it stops at once (Ctrl-C is exit 130)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    evict, delete = names(fleet, "amd64", 2), names(fleet, "amd64", 4)[2:]
    smoke = {"smoke": {"runtimeClass": {"amd64": "kata-qemu"}, "timeout": "30s"}}
    plan = fleet.plan_file("evict", selector={"where": where_names(evict)}, verify=smoke)
    assert fleet.apply(plan).returncode == 0
    bypass = {"timeout": "20s", "disableEviction": True}
    assert fleet.apply(fleet.plan_file("bypass", selector={"where": where_names(delete)}, drain=bypass)).returncode == 0
    window, _ = window_starting_in(1, every=3600, duration=3600)
    nothing = fleet.plan_file("none", selector={"where": where_names(evict)})  # already at the target
    assert fleet.run("schedule", "add", nothing, "--window", window, "--duration", "1h").returncode == 0
    serve = Serve(fleet, "serve")
    try:
        wait_for(lambda: "nothing to upgrade" in serve.text(), what="serve's first opening")
    finally:
        assert serve.stop() == 0
    check(recorded(fresh_sim), rules)


def test_node_reporter_rbac_is_patching_nodes_only(fresh_sim: Simulator, tmp_path: Path) -> None:
    kata = tmp_path / "kata"
    kata.mkdir()
    (kata / "VERSION").write_text("3.16.0\n")
    fleet = Fleet(fresh_sim, tmp_path)
    recorded(fresh_sim)
    node = sorted(fresh_sim.world.nodes)[0]
    result = fleet.run("report-node", "--node", node, "--kata-dir", str(kata))
    assert result.returncode == 0, result.stderr
    check(recorded(fresh_sim), grants(DEPLOY / "node-reporter.yaml", "fleetctl-node-reporter"))
