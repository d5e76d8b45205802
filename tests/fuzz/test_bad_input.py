"""Hypothesis at the CLI boundary: whatever a user or a cluster hands fleetctl, the answer is a
clear error (exit 2, ``error: WHERE: WHAT`` and a hint), never a traceback, and nothing is written.

Each example runs the real CLI in-process (``fleetctl.cli.app.run``) against a real store.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fleetctl.cli.app import run
from simulator.server import ServerOptions, Simulator
from store.migrate import open_store
from store.models import Cluster, Node, NodeState, Release, UpgradeRun
from tests.support.sim import raw

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def db(home: Path) -> str:
    url = f"sqlite:///{home / 'fleet.db'}"
    open_store(url).close()
    return url


def fleetctl(*args: str) -> tuple[int, str, str]:
    """Run the CLI in this process; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(args))
    return code, out.getvalue(), err.getvalue()


def assert_clear_error(code: int, stderr: str, *, where: str | None = None) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert stderr.startswith("error: "), stderr
    if where is not None:
        assert where in stderr, stderr


def count(db: str, model: Any) -> int:
    with open_store(db) as store, store.read_connection() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(model)).scalar() or 0)


# --- plan files ----------------------------------------------------------------------------------

SKELETON = {
    "apiVersion": "fleetctl.io/v1",
    "kind": "UpgradePlan",
    "metadata": {"name": "fuzz"},
    "spec": {"target": "4.1.0", "waves": {"sizes": [1]}, "gates": {"enabled": False}},
}
PLAN_PATHS = [
    ("apiVersion",), ("kind",), ("metadata",), ("metadata", "name"), ("spec",), ("spec", "target"),
    ("spec", "selector"), ("spec", "selector", "where"), ("spec", "waves"), ("spec", "waves", "sizes"),
    ("spec", "waves", "maxUnavailable"), ("spec", "drain"), ("spec", "drain", "timeout"), ("spec", "gates"),
    ("spec", "gates", "checks"), ("spec", "failureBudget"), ("spec", "window"), ("spec", "window", "schedule"),
    ("spec", "verify", "smoke"), ("spec", "install"),
]  # fmt: skip


def _with(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node.get(key), dict) or key not in node else node[key]
        if not isinstance(node, dict):
            return out
    node[path[-1]] = value
    return out


plan_texts = st.one_of(
    st.binary(max_size=300),  # anything, including bytes that are not UTF-8
    st.text(max_size=300).map(str.encode),
    json_values.map(lambda v: yaml.safe_dump(v).encode()),
    st.tuples(st.sampled_from(PLAN_PATHS), json_values).map(lambda pv: yaml.safe_dump(_with(SKELETON, *pv)).encode()),
)


@FUZZ
@given(plan_texts)
def test_any_plan_file_is_refused_clearly_and_nothing_is_written(home: Path, db: str, text: bytes) -> None:
    path = home / "plan.yaml"
    path.write_bytes(text)
    for command in (("upgrade", "plan", str(path)), ("upgrade", "apply", str(path), "--yes"), ("rehearse", str(path))):
        code, _, stderr = fleetctl("--db", db, "--kubeconfig", str(home / "none"), *command)
        assert_clear_error(code, stderr)  # the store has no nodes, so even a valid plan is refused
    assert count(db, UpgradeRun) == 0


# --- the query language ----------------------------------------------------------------------------

query_words = st.sampled_from(
    ["arch", "kata", "=", "!=", "<", ">=", "~", "in", "(", ")", ",", "and", "or", "not", "'", '"', "4.0",
     "s390x", "drift", "health", "crit", "age", "5m", "zone", "custom_kernel", "*", "\\", "\x00", "é"]
)  # fmt: skip


@FUZZ
@given(st.one_of(st.text(max_size=80), st.lists(query_words, max_size=12).map(" ".join)))
def test_any_query_is_answered_or_refused_clearly(db: str, text: str) -> None:
    code, _, stderr = fleetctl("--db", db, "nodes", "--where", text, "-o", "json")
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert code in (2, 3), stderr  # 3: a valid query over a store with no data yet
    if code == 2:
        assert_clear_error(code, stderr, where="--where")


# --- release feeds ---------------------------------------------------------------------------------

release = st.fixed_dictionaries(
    {"tag_name": st.one_of(st.sampled_from(["4.2.0", "v4.3.0", "3.99.1", "4.2.0-rc1"]), json_values)},
    optional={
        "draft": json_values, "prerelease": json_values, "published_at": st.one_of(json_values, st.just("2026-13-45")),
        "assets": st.one_of(json_values, st.lists(st.fixed_dictionaries({"name": json_values}), max_size=3)),
        "body": json_values,
    },
)  # fmt: skip
feeds = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(release, max_size=4).map(lambda v: json.dumps(v).encode()),
)


@FUZZ
@given(feeds)
@example(json.dumps([{"tag_name": "4.2.0"}, {"tag_name": "v4.2.0"}]).encode())  # found by this test: exit 3 once
def test_any_release_feed_syncs_or_is_refused_without_a_partial_write(home: Path, db: str, feed: bytes) -> None:
    path = home / "feed.json"
    path.write_bytes(feed)
    before = count(db, Release)
    code, _, stderr = fleetctl("--db", db, "releases", "sync", "--from", str(path))
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert code in (0, 2), stderr
    if code == 2:
        assert_clear_error(code, stderr)
        assert count(db, Release) == before


# --- kubeconfigs -----------------------------------------------------------------------------------

SECRET = "sEcReT-" + "x" * 24
kubeconfig_docs = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: yaml.safe_dump(v)),
    st.fixed_dictionaries(
        {
            "apiVersion": st.just("v1"),
            "clusters": st.one_of(json_values, st.just([{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}])),
            "contexts": st.one_of(json_values, st.just([{"name": "c", "context": {"cluster": "c", "user": "u"}}])),
            "current-context": st.one_of(json_values, st.just("c")),
            "users": st.one_of(
                json_values, st.just([{"name": "u", "user": {"token": SECRET}}]),
                st.lists(st.fixed_dictionaries({"name": json_values, "user": st.just({"token": SECRET})}), max_size=2),
            ),
        }
    ).map(lambda v: yaml.safe_dump(v) + f"# {SECRET}\n"),
)  # fmt: skip


@FUZZ
@given(kubeconfig_docs)
@example("apiVersion: v1\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: true\n")
def test_any_kubeconfig_is_refused_clearly_without_its_secrets(home: Path, db: str, doc: str | bytes) -> None:
    path = home / "kubeconfig"
    path.write_bytes(doc if isinstance(doc, bytes) else doc.encode())
    code, stdout, stderr = fleetctl("--db", db, "--kubeconfig", str(path), "collect", "--once")
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert SECRET not in stdout + stderr
    assert code in (2, 3), stderr  # 3: a usable kubeconfig whose cluster does not answer
    if code == 2:
        assert_clear_error(code, stderr)
    assert count(db, Cluster) == 0 or code == 3


# --- reporter annotations, through a real API server and collect -----------------------------------

hostile = st.one_of(
    st.text(max_size=200),
    st.integers(1, 40).map(lambda n: "[" * (n * 700) + "]" * (n * 700)),  # nested far too deeply
    st.integers(1, 3).map(lambda n: '{"Kernel": {"Path": "' + "k" * (n * 40_000) + '"}}'),  # huge
    json_values.map(json.dumps),
    st.sampled_from(['{"Kernel": {"Path": "\udcff"}}', "\udc80", '{"Runtime": {"Version": 4}}']),
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    options = ServerOptions(profile="small", seed=9, time_scale=50, out_dir=tmp_path_factory.mktemp("sim"), churn=False)
    with Simulator(options) as s:
        yield s


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env=hostile, version_file=st.one_of(st.text(max_size=50), st.just("4.1.0\udcff")))
def test_any_reporter_annotation_is_collected_as_a_parse_problem(
    sim: Simulator, home: Path, env: str, version_file: str
) -> None:
    node = "kata-amd64-0001"
    annotations = {"reporter.fleetctl.io/kata-env": env, "reporter.fleetctl.io/version-file": version_file}
    body = json.dumps({"metadata": {"annotations": annotations}})  # a lone surrogate goes as an escape: not UTF-8
    status, _ = raw(
        sim, f"/api/v1/nodes/{node}", "PATCH", body.encode(), {"Content-Type": "application/merge-patch+json"}
    )
    assert status == 200
    db = f"sqlite:///{home / 'annotations.db'}"
    code, _, stderr = fleetctl("--db", db, "--kubeconfig", str(sim.kubeconfig), "collect", "--once")
    assert code == 0, stderr
    with open_store(db) as store, store.read_connection() as conn:
        rows = dict(
            conn.execute(
                sa.select(Node.name, NodeState.parse_problems).join(NodeState, NodeState.node_id == Node.id)
            ).all()  # type: ignore[arg-type]
        )
    assert len(rows) == len(sim.world.nodes)  # every node collected, the hostile one too
    surrogate = any(0xDC00 <= ord(c) <= 0xDFFF for c in env + version_file)
    if len(env) > 65_536 or env.startswith("[[[") or surrogate:
        assert rows[node], (env[:80], version_file)  # recorded as the node's parse problems
