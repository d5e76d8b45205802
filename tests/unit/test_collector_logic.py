"""Pure collector logic: the reporter's annotations, version resolution and drift, node facts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.inventory.nodefacts import NodeExtras, build_facts, cpu_millis
from collectors.inventory.resolve import Signals, resolve
from collectors.reporter import ANNOTATION_ENV, ANNOTATION_VERSION_FILE, hypervisor_version, read_reporter

ENV = {
    "Kernel": {"Path": "/opt/kata/share/kata-containers/vmlinux-6.18.35-200", "Parameters": ""},
    "Hypervisor": {
        "MachineType": "s390-ccw-virtio",
        "Version": "QEMU emulator version 11.0.1 (kata-static)\nCopyright",
        "Path": "/opt/kata/bin/qemu-system-s390x",
    },
    "Runtime": {
        "Version": {
            "OCI": "1.2.1",
            "Version": {"Semver": "4.0.0", "Commit": "0123456789abcdef", "Major": 4, "Minor": 0, "Patch": 0},
        },
        "Config": {"Path": "/opt/kata/share/defaults/kata-containers/configuration-qemu.toml"},
    },
}


def test_reporter_reads_the_kata_runtime_env_shape() -> None:
    data = read_reporter({ANNOTATION_ENV: json.dumps(ENV), ANNOTATION_VERSION_FILE: "4.0.0\n"})
    assert (data.version, data.commit, data.version_file) == ("4.0.0", "0123456789abcdef", "4.0.0")
    assert (data.hypervisor, data.hypervisor_version, data.machine_type) == ("qemu", "11.0.1", "s390-ccw-virtio")
    assert data.kernel_path == ENV["Kernel"]["Path"] and data.problems == ()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("x" * 70_000, "over the 65536-byte cap"),
        ("[" * 30_000 + "]" * 30_000, "nested too deeply"),
        ("not json at all", "is not JSON"),
        ('{"Kernel": {"Path": "\\udcff"}}', "not valid UTF-8"),
        ("\udcff", "not valid UTF-8"),
        ("[1, 2]", "not an object"),
        ('{"Runtime": {"Version": {"Version": {"Semver": 4}}}}', "is not a string"),
    ],
)
def test_hostile_annotations_become_problems_not_exceptions(value: str, problem: str) -> None:
    data = read_reporter({ANNOTATION_ENV: value})
    assert any(problem in p for p in data.problems), data.problems


@given(
    st.dictionaries(
        st.sampled_from([ANNOTATION_ENV, ANNOTATION_VERSION_FILE, "other"]),
        st.one_of(st.text(max_size=200), st.integers(), st.none()),
    )
)
def test_reading_any_annotations_never_raises(annotations: dict[str, object]) -> None:
    data = read_reporter(annotations)
    for text in (data.version, data.kernel_path, data.hypervisor_version):
        assert text is None or text.encode("utf-8")


def test_hypervisor_versions_from_real_banners() -> None:
    assert hypervisor_version("QEMU emulator version 10.2.1 (kata-static)\nCopyright (c) 2003-2025") == "10.2.1"
    assert hypervisor_version("cloud-hypervisor v51.1.0") == "v51.1.0"
    assert hypervisor_version(None) is None


def _signals(**kw: object) -> Signals:
    base: dict[str, object] = {
        "arch": "amd64",
        "env_version": "4.0.0",
        "version_file": "4.0.0",
        "deploy_version": "4.0.0",
        "deploy_state": "Running",
        "label": "true",
        "handlers": ("kata-qemu", "kata-qemu-runtime-rs"),
    }
    base.update(kw)
    return Signals(**base)  # type: ignore[arg-type]


def test_agreeing_signals_resolve_without_drift() -> None:
    r = resolve(_signals())
    assert (r.version, r.drift) == ("4.0.0", ())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"deploy_version": "4.1.0"}, "kata-deploy pod is 4.1.0 but the node reports 4.0.0"),
        ({"version_file": "3.32.0"}, "kata-runtime reports 4.0.0 but /opt/kata/VERSION says 3.32.0"),
        ({"label": "false"}, "label katacontainers.io/kata-runtime is false"),
        ({"label": None}, "label katacontainers.io/kata-runtime is missing"),
        ({"env_version": None, "version_file": None}, "no reporter data"),
        ({"handlers": ("kata-qemu-runtime-rs",)}, "handler kata-qemu missing"),
        ({"deploy_state": "CrashLoopBackOff"}, "kata-deploy pod is CrashLoopBackOff"),
        ({"deploy_state": None}, "no kata-deploy pod on the node"),
        ({"env_version": "latest"}, "kata-runtime reports 'latest', which is not a Kata version"),
    ],
)
def test_each_disagreement_is_a_readable_drift_reason(change: dict[str, object], reason: str) -> None:
    assert reason in resolve(_signals(**change)).drift


def test_ppc64le_before_4_1_needs_no_runtime_rs_handler() -> None:
    r = resolve(_signals(arch="ppc64le", handlers=("kata-qemu",)))
    assert r.drift == ()
    later = resolve(
        _signals(
            arch="ppc64le", env_version="4.1.0", version_file="4.1.0", deploy_version="4.1.0", handlers=("kata-qemu",)
        )
    )
    assert "handler kata-qemu-runtime-rs missing" in later.drift


def test_the_reporter_wins_over_the_image_tag() -> None:
    assert resolve(_signals(deploy_version="3.32.0")).version == "4.0.0"
    assert resolve(_signals(env_version=None, version_file=None)).version == "4.0.0"  # the tag, as a last resort


@pytest.mark.parametrize(
    ("quantity", "millis"), [("32", 32000), ("31500m", 31500), ("0.5", 500), (None, None), ("lots", None)]
)
def test_cpu_quantities(quantity: object, millis: int | None) -> None:
    assert cpu_millis(quantity) == millis


def test_node_facts_mark_custom_kernels_and_unhealthy_conditions() -> None:
    node = {
        "metadata": {
            "name": "n1",
            "uid": "u1",
            "labels": {
                "kubernetes.io/arch": "s390x",
                "topology.kubernetes.io/zone": "z1",
                "katacontainers.io/kata-runtime": "true",
            },
            "annotations": {
                ANNOTATION_ENV: json.dumps({**ENV, "Kernel": {"Path": "/opt/acme/vmlinux-6.18.30-acme4"}}),
                ANNOTATION_VERSION_FILE: "4.0.0",
            },
        },
        "spec": {
            "unschedulable": True,
            "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}],
        },
        "status": {
            "capacity": {"cpu": "16"},
            "allocatable": {"cpu": "15500m"},
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "KernelDeadlock", "status": "True"},
                {"type": "MemoryPressure", "status": "False"},
            ],
            "nodeInfo": {"architecture": "s390x", "kernelVersion": "5.14.0-570.el9.s390x"},
            "runtimeHandlers": [
                {"name": ""},
                {"name": "runc"},
                {"name": "kata-qemu"},
                {"name": "kata-qemu-runtime-rs"},
            ],
        },
    }
    facts = build_facts(node, NodeExtras(deploy_version="4.0.0", deploy_state="Running"), {"4.0.0": "6.18.35-200"})
    assert (facts.kata_version, facts.guest_kernel, facts.custom_kernel) == ("4.0.0", "6.18.30-acme4", True)
    assert facts.conditions == ("KernelDeadlock=True",) and facts.ready is True and facts.unschedulable
    assert (facts.cpu_capacity, facts.cpu_allocatable, facts.zone) == (16000, 15500, "z1")
    assert facts.runtime_handlers == ("kata-qemu", "kata-qemu-runtime-rs", "runc")
    assert facts.drift == ()
    upstream = build_facts(
        node | {"metadata": {**node["metadata"], "annotations": {ANNOTATION_ENV: json.dumps(ENV)}}},
        NodeExtras("4.0.0", "Running"),
        {"4.0.0": "6.18.35-200"},
    )  # type: ignore[operator]
    assert upstream.custom_kernel is False


def test_label_selectors_translate_to_queries() -> None:
    from store.query.selector import selector_to_query

    assert selector_to_query("app=web,!gpu") == '(label["app"] = "web") and (not label["gpu"] ~ "*")'
    assert selector_to_query("tier notin (a, b),zone") == '(label["tier"] not in ("a", "b")) and (label["zone"] ~ "*")'
