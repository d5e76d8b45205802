"""kata-monitor's namespace, its runtime-rs blind spot, Cloud API Adaptor releases and the node
reporter's fallbacks on runtime-rs-only nodes: the pure logic, in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clients.kube.decode import convert
from clients.kube.objects import PeerPod, Pod
from clients.prom import Sample
from collectors.health.rules import NodeInputs, evaluate
from collectors.health.thresholds import Thresholds
from collectors.inventory.caa import CAA_RELEASES, resolve_caa_image
from collectors.inventory.pods import DEFAULT_SELECTORS, NodePods, Role, count_peerpods, fold
from collectors.inventory.resolve import DriftKind, Signals, drift_kind, resolve
from collectors.reporter import ANNOTATION_ENV, ANNOTATION_SOURCE, read_reporter
from collectors.reporting import build_report
from store.checks import Status
from tests.support.katatree import GO_SHIM, GO_SHIM_VERSION, RUST_SHIM, RUST_SHIM_VERSION, kata_tree

CAA = "quay.io/confidential-containers/cloud-api-adaptor"


def _healthy(**over: Any) -> NodeInputs:
    base: dict[str, Any] = {
        "ready": True,
        "conditions": [],
        "drift": [],
        "targeted": True,
        "up": Sample(1.0),
        "shims": Sample(2.0),
        "scrape_failures_per_min": Sample(0.0),
        "rpc_p99_ms": Sample(5.0),
        "hypervisor_threads": Sample(10.0),
        "hypervisor_fds": Sample(20.0),
        "guest_mem_available": Sample(0.5),
        "arch": "amd64",
        "kata_version": "4.0.0",
        "handlers": ("kata-qemu", "kata-qemu-runtime-rs"),
        "kata_pods": 2,
        "monitor_namespace": "kube-system",
        "monitor_namespaces": ("kube-system",),
    }
    return NodeInputs(**(base | over))


def _checks(node: NodeInputs) -> dict[str, Any]:
    return {c.code: c for c in evaluate(node, Thresholds())}


# -- kata-monitor's namespace ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "says"),
    [
        ({"monitor_namespace": "kata-deploy"}, "kubectl -n kata-deploy get pods"),
        (
            {"monitor_namespace": None, "monitor_namespaces": ("kube-system",)},
            "runs in namespace kube-system but has no pod on this node",
        ),
        ({"monitor_namespace": None, "monitor_namespaces": ()}, "No kata-monitor pod was found in any namespace"),
    ],
)
def test_kata001_names_the_namespace_kata_monitor_was_found_in(over: dict[str, Any], says: str) -> None:
    for down in ({"targeted": False}, {"up": Sample(0.0)}):
        kata001 = _checks(_healthy(**over, **down))["KATA001"]
        assert kata001.status in (Status.UNKNOWN, Status.CRIT)
        assert kata001.remediation and says in kata001.remediation and "kata-system" not in kata001.remediation


def test_kata_monitor_pods_are_found_by_either_label_in_any_namespace() -> None:
    def pod(node: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
        return {"metadata": {"namespace": namespace, "name": f"m-{node}", "labels": labels},
                "spec": {"nodeName": node, "containers": [{"image": "quay.io/kata-containers/kata-monitor:4.0.0"}]},
                "status": {"phase": "Running"}}  # fmt: skip

    # the chart's label and the older manifests': both are read, in any namespace
    assert DEFAULT_SELECTORS.kata_monitor == ("app.kubernetes.io/name=kata-monitor", "name=kata-monitor")
    nodes: dict[str, NodePods] = {}
    fold(convert(pod("a", "kata-deploy", {"app.kubernetes.io/name": "kata-monitor"}), Pod), Role.MONITOR, nodes)
    fold(convert(pod("b", "kata-system", {"name": "kata-monitor"}), Pod), Role.MONITOR, nodes)
    fold(convert(pod("c", "kube-system", {"app": "other"}), Pod), Role.WORKLOAD, nodes)
    assert {n: a.monitor_namespace for n, a in nodes.items()} == {"a": "kata-deploy", "b": "kata-system", "c": None}


# -- the runtime-rs blind spot -----------------------------------------------------------------


def test_a_4_0_runtime_rs_node_with_kata_pods_but_no_shims_is_unknown_never_ok() -> None:
    got = _checks(_healthy(shims=Sample(0.0), kata_pods=3))
    assert got["KATA006"].status is Status.UNKNOWN
    assert "#12666" in got["KATA006"].reason and "before 4.1.0" in got["KATA006"].reason
    assert all(got[c].status is Status.UNKNOWN for c in ("KATA003", "KATA004", "KATA005"))
    assert got["KATA006"].remediation and "4.1.0" in got["KATA006"].remediation


@pytest.mark.parametrize(
    ("over", "blind"),
    [
        ({"kata_version": "4.1.0"}, False),  # fixed by #13611
        ({"kata_version": "4.0.0", "arch": "ppc64le", "handlers": ("kata-qemu",)}, False),  # Go shim stayed default
        ({"kata_version": "3.32.0"}, False),  # the Go shim was the default
    ],
)
def test_no_shims_with_kata_pods_is_unknown_on_every_release(over: dict[str, Any], blind: bool) -> None:
    kata006 = _checks(_healthy(shims=Sample(0.0), kata_pods=3, **over))["KATA006"]
    assert kata006.status is Status.UNKNOWN and ("#12666" in kata006.reason) is blind


def test_no_shims_and_no_kata_pods_is_ok_and_shims_counted_are_ok() -> None:
    idle = _checks(_healthy(shims=Sample(0.0), kata_pods=0))
    assert idle["KATA006"].status is Status.OK and idle["KATA003"].status is Status.OK
    assert _checks(_healthy())["KATA006"].status is Status.OK
    assert _checks(_healthy(targeted=None))["KATA006"].status is Status.UNKNOWN  # no Prometheus


# -- Cloud API Adaptor -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "shown", "kata"),
    [
        (f"{CAA}:v0.22.0", "v0.22.0", "4.0.0"),
        (f"{CAA}:61b1aba0123456789abcdef0123456789abcdef0", "v0.22.0", "4.0.0"),  # release images: commit tags
        (f"{CAA}:dev-61b1aba0123456789abcdef0123456789abcdef0", "v0.22.0", "4.0.0"),  # libvirt's dev image
        (f"{CAA}:v0.21.0", "v0.21.0", "3.31.0"),
        (f"{CAA}:v0.18.0-amd64", "v0.18.0", "3.25.0"),
        (f"{CAA}:latest", "latest", None),
        (CAA, "latest", None),
        (f"{CAA}:0123456789abcdef0123456789abcdef01234567", "0123456789abcdef0123456789abcdef01234567", None),
        (f"{CAA}@sha256:{'ab' * 32}", "sha256:abababababab", None),
    ],
)
def test_caa_images_resolve_to_releases_and_the_kata_they_pin(image: str, shown: str, kata: str | None) -> None:
    caa = resolve_caa_image(image)
    assert caa is not None and caa.shown == shown and caa.expects_kata == kata


def test_the_bundled_caa_map_pins_kata_deploy_as_the_charts_do() -> None:
    assert {v: r.kata for v, r in CAA_RELEASES.items()} == {
        "v0.18.0": "3.25.0", "v0.19.0": "3.28.0", "v0.20.0": "3.29.0", "v0.21.0": "3.31.0", "v0.22.0": "4.0.0",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("caa", "kata", "status", "says"),
    [
        ("v0.22.0", "4.0.0", Status.OK, "expects Kata 4.0.0"),
        (
            "v0.22.0",
            "3.32.0",
            Status.WARN,
            "v0.22.0 expects Kata 4.0.0 (its chart's kata-deploy), but the node runs 3.32.0",
        ),
        ("latest", "4.0.0", Status.UNKNOWN, "image is latest"),
        (None, "4.0.0", Status.OK, "no Cloud API Adaptor"),
    ],
)
def test_kata015_warns_when_kata_and_the_caa_pin_disagree(
    caa: str | None, kata: str, status: Status, says: str
) -> None:
    kata015 = _checks(_healthy(caa_version=caa, kata_version=kata))["KATA015"]
    assert kata015.status is status and says in kata015.reason


def test_peer_pods_are_counted_from_peerpod_objects_by_their_owner_pod() -> None:
    remote = {("ci", "build-a"): "n1", ("ci", "build-b"): "n1", ("ci", "build-c"): "n2"}
    peerpods = [
        {"metadata": {"namespace": "ci", "name": n, "ownerReferences": [{"kind": "Pod", "name": n}]}}
        for n in ("build-a", "build-b", "build-c", "build-gone")
    ]
    assert count_peerpods([convert(p, PeerPod) for p in peerpods], remote) == {"n1": 2, "n2": 1}


def test_kata_pods_are_counted_per_node() -> None:
    nodes: dict[str, NodePods] = {}
    for i, (rc, phase) in enumerate([("kata-qemu", "Running"), ("kata-qemu-runtime-rs", "Running"),
                                     ("kata-qemu", "Pending"), (None, "Running")]):  # fmt: skip
        fold(convert({"metadata": {"namespace": "a", "name": f"p{i}"},
                      "spec": {"nodeName": "n", "runtimeClassName": rc, "containers": [{}]},
                      "status": {"phase": phase, "startTime": "2026-12-01T00:00:00Z"}}, Pod), Role.WORKLOAD, nodes)  # fmt: skip
    assert nodes["n"].kata_pods == 2


# -- runtime-rs-only nodes: what the reporter reads, and drift that stays true -----------------


def _signals(**over: Any) -> Signals:
    base: dict[str, Any] = {
        "arch": "s390x", "env_version": "4.1.0", "version_file": "4.1.0", "deploy_version": "4.1.0",
        "deploy_state": "Running", "label": "true", "handlers": ("kata-qemu-runtime-rs",),
    }  # fmt: skip
    return Signals(**(base | over))


def test_a_runtime_rs_only_4_1_node_is_not_missing_the_go_handler() -> None:
    for source in ("kata-ctl env", "containerd-shim-kata-v2 --version", "/opt/kata/VERSION"):
        assert resolve(_signals(env_source=source)).drift == ()
    with_go = resolve(_signals(env_source="kata-runtime env"))  # kata-runtime is there: so is the Go shim
    assert with_go.drift == ("handler kata-qemu missing",)
    before = resolve(
        _signals(env_version="4.0.0", version_file="4.0.0", deploy_version="4.0.0", env_source="kata-ctl env")
    )
    assert "handler kata-qemu missing" in before.drift


def test_drift_names_the_program_that_reported_the_version() -> None:
    got = resolve(_signals(env_version="4.1.0", version_file="4.0.0", env_source="containerd-shim-kata-v2 --version"))
    reason = "containerd-shim-kata-v2 reports 4.1.0 but /opt/kata/VERSION says 4.0.0"
    assert reason in got.drift and drift_kind(reason) is DriftKind.REPORTER_DISAGREES
    assert drift_kind("kata-runtime reports 4.1.0 but /opt/kata/VERSION says 4.0.0") is DriftKind.REPORTER_DISAGREES


def _report(kata: Path) -> tuple[dict[str, str], dict[str, Any]]:
    notes = build_report(kata).annotations
    return notes, json.loads(notes.get(ANNOTATION_ENV, "{}"))


def test_the_reporter_falls_back_from_kata_runtime_to_kata_ctl_to_the_shim_to_version(tmp_path: Path) -> None:
    notes, env = _report(kata_tree(tmp_path / "a"))
    assert notes[ANNOTATION_SOURCE] == "kata-runtime env" and env["Hypervisor"]["MachineType"] == "q35"
    notes, env = _report(kata_tree(tmp_path / "b", binary="kata-ctl", shim=(RUST_SHIM, RUST_SHIM_VERSION)))
    assert notes[ANNOTATION_SOURCE] == "kata-ctl env" and env["Hypervisor"]["MachineType"] == "q35"
    for name, shim, commit in (
        ("c", (RUST_SHIM, RUST_SHIM_VERSION), "f6e5d4c3b2"),
        ("d", (GO_SHIM, GO_SHIM_VERSION), "a1b2c3d4e5"),
    ):
        notes, env = _report(kata_tree(tmp_path / name, binary=None, shim=shim))
        assert notes[ANNOTATION_SOURCE] == "containerd-shim-kata-v2 --version"
        assert env["Runtime"]["Version"]["Version"] == {"Semver": "4.1.0", "Commit": commit}
        assert env["Kernel"]["Path"] == "/opt/kata/share/kata-containers/vmlinux-6.18.35-202"  # the default symlink
    notes, env = _report(kata_tree(tmp_path / "e", binary=None))
    assert notes[ANNOTATION_SOURCE] == "/opt/kata/VERSION" and notes["reporter.fleetctl.io/version-file"] == "4.1.0"
    assert env == {"Kernel": {"Path": "/opt/kata/share/kata-containers/vmlinux-6.18.35-202"}}


def test_without_an_env_the_kernel_comes_from_the_runtime_rs_configuration(tmp_path: Path) -> None:
    kata = kata_tree(
        tmp_path, binary=None, shim=(RUST_SHIM, RUST_SHIM_VERSION), config_kernel="/opt/acme/vmlinux-6.18.30-acme4"
    )
    notes, env = _report(kata)
    assert env["Kernel"]["Path"] == "/opt/acme/vmlinux-6.18.30-acme4"
    data = read_reporter(notes)
    assert (data.version, data.commit, data.source, data.problems) == (
        "4.1.0",
        "f6e5d4c3b2",
        "containerd-shim-kata-v2 --version",
        (),
    )
    assert data.kernel_path == "/opt/acme/vmlinux-6.18.30-acme4"


def test_an_unknown_source_annotation_is_a_parse_problem() -> None:
    data = read_reporter({ANNOTATION_SOURCE: "crystal ball"})
    assert data.source is None and any("reporter.fleetctl.io/source" in p for p in data.problems)


def test_describe_node_shows_the_kata_release_the_caa_release_expects() -> None:
    from fleetctl.nodereport import caa_text

    assert caa_text("v0.22.0") == "v0.22.0 (expects Kata 4.0.0)"
    assert caa_text("latest") == "latest (release unknown)" and caa_text(None) is None


def test_the_simulator_gives_runtime_rs_only_4_1_nodes_no_kata_runtime() -> None:
    from simulator import kata
    from simulator.fleet import make_fleet

    host = make_fleet("small", seed=1, nodes=3).nodes[0].host
    rs_only = {kata.LABEL_SHIMS: kata.RUNTIME_RS_ONLY}
    assert kata.handlers_for("4.1.0", "s390x", labels=rs_only) == ["kata-qemu-runtime-rs"]
    assert "kata-qemu" in kata.handlers_for("4.0.0", "s390x", labels=rs_only)  # before 4.1 kata-static has the Go shim
    assert "kata-qemu" in kata.handlers_for("4.1.0", "s390x")  # by default 4.1 nodes keep kata-go-static too

    def reported(arch: str, labels: dict[str, str] | None) -> dict[str, str]:
        return kata.reporter_annotations(
            kata.RELEASES["4.1.0"], arch=arch, custom_kernel=None, host=host, at="2026-12-02T00:00:00Z", labels=labels
        )

    assert reported("s390x", None)[ANNOTATION_SOURCE] == "kata-runtime env"
    assert reported("amd64", rs_only)[ANNOTATION_SOURCE] == "kata-ctl env"
    shim = reported("s390x", rs_only)
    assert shim[ANNOTATION_SOURCE] == "containerd-shim-kata-v2 --version"
    data = read_reporter(shim)
    assert (data.version, data.source, data.hypervisor) == ("4.1.0", "containerd-shim-kata-v2 --version", None)
    assert data.kernel_path == "/opt/kata/share/kata-containers/vmlinux-6.18.35-202"
