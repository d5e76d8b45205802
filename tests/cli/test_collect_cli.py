"""`fleetctl collect` and `fleetctl releases` as a user runs them: one subprocess smoke test each, the
messages and codes in-process."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

from simulator.server import Simulator
from tests.support.cli import assert_clean_error, fleetctl, fleetctl_in_process


def test_collect_prints_a_summary_and_a_second_run_writes_nothing(fresh_sim: Simulator, sqlite_url: str) -> None:
    first = fleetctl("--kubeconfig", str(fresh_sim.kubeconfig), "--db", sqlite_url, "collect")
    assert first.returncode == 0, first.stderr
    assert (
        "cluster sim: 30 nodes" in first.stdout
        and "nodes 30 new, 0 updated, 0 gone; 30 history rows written" in first.stdout
    )
    second = fleetctl("--kubeconfig", str(fresh_sim.kubeconfig), "--db", sqlite_url, "collect", "-o", "json")
    item = json.loads(second.stdout)["items"][0]
    assert (item["cluster"], item["nodes"], item["changesWritten"], item["error"]) == ("sim", 30, 0, None)
    assert fresh_sim.token not in first.stdout + first.stderr + second.stdout + second.stderr


def test_collect_from_an_unreachable_cluster_exits_3_without_the_token(
    fresh_sim: Simulator, tmp_path: Path, sqlite_url: str
) -> None:
    cfg = yaml.safe_load(fresh_sim.kubeconfig.read_text())
    cfg["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(yaml.safe_dump(cfg))
    result = fleetctl_in_process("--kubeconfig", str(dead), "--db", sqlite_url, "collect")
    assert result.returncode == 3, result.stderr
    assert "cluster sim: FAILED" in result.stderr and "Traceback" not in result.stderr
    assert "cannot reach the API server: connection refused" in result.stderr, result.stderr
    assert "Errno" not in result.stderr and "HTTPSConnectionPool" not in result.stderr
    assert fresh_sim.token not in result.stdout + result.stderr
    assert "removed the new store" not in result.stderr  # an existing store stays, empty or not
    # A store that a failed first collect created holds nothing, so it goes again, and a read says so.
    new = tmp_path / "new.db"
    first = fleetctl_in_process("--kubeconfig", str(dead), "--db", f"sqlite:///{new}", "collect")
    assert first.returncode == 3, first.stderr
    assert f"note: removed the new store at {new}: no cluster could be collected" in first.stderr
    assert not new.exists() and not list(tmp_path.glob("new.db*"))
    after = fleetctl_in_process("--db", f"sqlite:///{new}", "nodes")
    assert after.returncode == 2 and f"there is no fleetctl store at {new}" in after.stderr


def test_bad_kubeconfig_and_unknown_context_exit_2(fresh_sim: Simulator, tmp_path: Path, sqlite_url: str) -> None:
    missing = fleetctl_in_process("--kubeconfig", str(tmp_path / "nope"), "--db", sqlite_url, "collect")
    assert_clean_error(missing, 2)
    assert "kubeconfig not found" in missing.stderr
    garbage = tmp_path / "garbage"
    garbage.write_text("clusters: [\n")
    bad = fleetctl_in_process("--kubeconfig", str(garbage), "--db", sqlite_url, "collect")
    assert_clean_error(bad, 2)
    assert f"{garbage}:2:1: kubeconfig is not valid YAML: expected the node content" in bad.stderr
    empty = tmp_path / "empty"
    empty.write_text("apiVersion: v1\nkind: Config\ncontexts: []\n")
    no_contexts = fleetctl_in_process("--kubeconfig", str(empty), "--context", "a", "--db", sqlite_url, "collect")
    assert_clean_error(no_contexts, 2)
    assert "the kubeconfig has no contexts: add one with `kubectl config set-context`" in no_contexts.stderr
    unknown = fleetctl_in_process(
        "--kubeconfig", str(fresh_sim.kubeconfig), "--context", "prod", "--db", sqlite_url, "collect"
    )
    assert_clean_error(unknown, 2)
    assert "context 'prod' is not in the kubeconfig" in unknown.stderr and "use one of: sim" in unknown.stderr
    interval = fleetctl_in_process(
        "--kubeconfig", str(fresh_sim.kubeconfig), "--db", sqlite_url, "collect", "--watch", "--interval", "soon"
    )
    assert_clean_error(interval, 2)
    assert "'soon' is not a duration" in interval.stderr


def test_releases_list_works_offline_with_node_counts(fresh_sim: Simulator, sqlite_url: str) -> None:
    assert fleetctl("--kubeconfig", str(fresh_sim.kubeconfig), "--db", sqlite_url, "collect").returncode == 0
    result = fleetctl("--db", sqlite_url, "releases", "list", "-o", "json")
    assert result.returncode == 0, result.stderr
    items = {r["version"]: r for r in json.loads(result.stdout)["items"]}
    assert items["4.1.0"]["guestKernel"] == "6.18.35-202" and items["4.1.0"]["hypervisors"]["qemu"] == "11.0.1"
    truth = [t["installed"] for t in fresh_sim.world.truth().values()]
    assert {v: r["nodes"] for v, r in items.items() if r["nodes"]} == {v: truth.count(v) for v in set(truth)}
    assert "ppc64le" in items["4.1.0"]["arches"] and "ppc64le" not in items["3.2.0"]["arches"]


def test_releases_sync_from_a_github_feed_file_keeps_the_pins(tmp_path: Path, sqlite_url: str) -> None:
    feed = [
        {"tag_name": "4.2.0", "name": "4.2.0", "draft": False, "prerelease": False, "published_at": "2026-09-18T10:00:00Z",
         "assets": [{"name": "kata-static-4.2.0-amd64.tar.zst", "size": 1}, {"name": "kata-static-4.2.0-s390x.tar.zst", "size": 1}]},
        {"tag_name": "4.1.0", "draft": False, "prerelease": False, "published_at": "2026-08-21T09:00:00Z", "assets": []},
        {"tag_name": "4.3.0-rc0", "draft": True, "assets": []},
        {"tag_name": "helm-chart-x", "assets": []},
    ]  # fmt: skip
    path = tmp_path / "releases.json"
    path.write_text(json.dumps(feed))
    result = fleetctl_in_process("--db", sqlite_url, "releases", "sync", "--from", str(path))
    assert result.returncode == 0, result.stderr
    items = {
        r["version"]: r
        for r in json.loads(fleetctl_in_process("--db", sqlite_url, "releases", "list", "-o", "json").stdout)["items"]
    }
    assert items["4.2.0"]["arches"] == ["amd64", "s390x"] and items["4.2.0"]["guestKernel"] is None
    assert items["4.1.0"]["guestKernel"] == "6.18.35-202"  # the feed has no pin; the bundled one stays
    assert "4.3.0-rc0" not in items and "helm-chart-x" not in items


def test_a_bad_feed_exits_2_and_writes_nothing(tmp_path: Path, sqlite_url: str) -> None:
    for text, message in (
        ("{}", "expected a JSON list"),
        ('[{"name": "x"}]', "[0]: tag_name is missing"),
        ("[1", "not valid JSON"),
    ):
        path = tmp_path / "feed.json"
        path.write_text(text)
        result = fleetctl_in_process("--db", sqlite_url, "releases", "sync", "--from", str(path))
        assert_clean_error(result, 2)
        assert message in result.stderr
    info = json.loads(fleetctl_in_process("--db", sqlite_url, "db", "info", "-o", "json").stdout)
    assert info["tables"]["release"] == 0


def test_collect_with_retain_and_db_compact(fresh_sim: Simulator, sqlite_url: str) -> None:
    result = fleetctl_in_process(
        "--kubeconfig", str(fresh_sim.kubeconfig), "--db", sqlite_url, "collect", "--retain", "90d"
    )
    assert result.returncode == 0, result.stderr
    dry = fleetctl_in_process("--db", sqlite_url, "db", "compact", "--retain", "0s", "--dry-run")
    assert dry.returncode == 0 and "would drop 30 change rows" in dry.stdout
    bad = fleetctl_in_process("--db", sqlite_url, "db", "compact", "--retain", "forever")
    assert_clean_error(bad, 2)


def test_all_contexts_collects_a_live_cluster_beside_a_dead_one(
    fresh_sim: Simulator, tmp_path: Path, sqlite_url: str
) -> None:
    cfg = yaml.safe_load(fresh_sim.kubeconfig.read_text())
    dead = copy.deepcopy(cfg["clusters"][0])
    dead["name"], dead["cluster"]["server"] = "dead", "https://127.0.0.1:1"
    context = copy.deepcopy(cfg["contexts"][0])
    context["name"], context["context"]["cluster"] = "dead", "dead"
    cfg["clusters"].append(dead)
    cfg["contexts"].append(context)
    two = tmp_path / "two-kubeconfig"
    two.write_text(yaml.safe_dump(cfg))
    result = fleetctl_in_process(
        "--kubeconfig", str(two), "--db", sqlite_url, "collect", "--all-contexts", "--parallel", "2", "-o", "json"
    )
    assert result.returncode == 3, result.stderr
    items = {i["cluster"]: i for i in json.loads(result.stdout)["items"]}
    assert items["sim"]["nodes"] == 30 and items["sim"]["error"] is None
    assert "cannot reach the API server" in items["dead"]["error"]
    listed = fleetctl_in_process("--kubeconfig", str(two), "--db", sqlite_url, "nodes", "-o", "name")
    assert len(listed.stdout.split()) == 30, listed.stderr  # the live cluster was written
