"""Pre-flight checks, in-process: each known breaker gives its code, severity and fix, and a clean
cluster gives none."""

from __future__ import annotations

from dataclasses import replace

from upgrades.preflight import ClusterFacts, Severity, chart_version, check

CLEAN = ClusterFacts(
    cluster="c", target="4.1.0", node_releases={"n1": "4.0.0", "n2": "3.30.0"},
    node_runtimes={"n1": "containerd://2.2.1", "n2": "containerd://2.1.4"},
    deploy_image="quay.io/kata-containers/kata-deploy:4.0.0",
)  # fmt: skip


def codes(facts: ClusterFacts) -> dict[str, Severity]:
    return {f.code: f.severity for f in check(facts)}


def test_a_clean_cluster_has_no_findings() -> None:
    assert check(CLEAN) == []


def test_containerd_2_3_warns_of_config_version_4() -> None:
    found = check(replace(CLEAN, node_runtimes={"n1": "containerd://2.3.1", "n2": "containerd://1.7.24"}))
    assert [(f.code, f.severity) for f in found] == [("PF001", Severity.WARN)]
    assert "n1" in found[0].message and "#12936" in found[0].message


def test_leaving_3_28_warns_and_refuses_a_cordon_only_rollout() -> None:
    on_328 = replace(CLEAN, node_releases={"n1": "3.28.0"})
    assert codes(on_328) == {"PF002": Severity.WARN}
    assert codes(replace(on_328, cordon_only=True)) == {"PF002": Severity.REFUSE}
    assert "spec.drain.mode: evict" in check(on_328)[0].fix


def test_latest_tags_and_chart_mismatches() -> None:
    assert codes(replace(CLEAN, deploy_image="quay.io/kata-containers/kata-deploy:latest")) == {"PF003": Severity.WARN}
    assert codes(replace(CLEAN, deploy_image="quay.io/kata-containers/kata-deploy")) == {"PF003": Severity.WARN}
    helm = replace(CLEAN, chart_version="3.30.0", helm_release="kata")
    assert codes(helm) == {"PF004": Severity.WARN, "PF005": Severity.WARN}  # image 4.0.0 on chart 3.30.0
    assert codes(replace(helm, deploy_image="quay.io/kata-containers/kata-deploy:3.30.0")) == {"PF005": Severity.WARN}


def test_a_second_nfd_warns_only_beside_a_helm_managed_kata_deploy() -> None:
    helm = replace(CLEAN, chart_version="4.1.0", helm_release="kata", deploy_image="quay.io/k/kata-deploy:4.1.0")
    assert codes(helm) == {}
    assert codes(replace(CLEAN, nfd_node="n1")) == {}  # no chart is rendered: the DaemonSet is set directly
    found = check(replace(helm, nfd_node="n2"))
    assert [(f.code, f.severity) for f in found] == [("PF006", Severity.WARN)]
    assert "node n2" in found[0].message and "#11998" in found[0].message and "Helm release kata" in found[0].message
    assert "node-feature-discovery.enabled: false" in found[0].fix


def test_runtimeclasses_newer_than_the_target_refuse() -> None:
    assert codes(replace(CLEAN, runtimeclass_versions={"kata-qemu": "4.1.0"})) == {}
    found = check(replace(CLEAN, runtimeclass_versions={"kata-qemu": "4.2.0", "kata-clh": "4.2.0"}))
    assert [(f.code, f.severity) for f in found] == [("PF007", Severity.REFUSE)] and "4.2.0" in found[0].fix


def test_the_chart_version_comes_from_helms_chart_label() -> None:
    assert chart_version({"metadata": {"labels": {"helm.sh/chart": "kata-deploy-3.30.0"}}}) == "3.30.0"
    assert chart_version({"metadata": {"labels": {}}}) is None and chart_version(None) is None
