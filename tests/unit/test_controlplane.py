"""The control plane's pin and how its binaries are found (the tier in tests/kube starts it for real)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.controlplane import BUILD_SCRIPT, KUBE_VERSION, ControlPlaneError, find_assets

GO_MOD = BUILD_SCRIPT.parent / "go.mod"


def test_the_launcher_names_the_version_go_mod_pins() -> None:
    pinned = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", GO_MOD.read_text(), re.M)
    assert pinned and pinned.group(1) == KUBE_VERSION
    staging = re.findall(r"^\s*(k8s\.io/\S+) => k8s\.io/\S+ (v\S+)", GO_MOD.read_text(), re.M)
    assert len(staging) > 30 and {v for _, v in staging} == {KUBE_VERSION.replace("v1.", "v0.", 1)}


def test_a_prebuilt_directory_without_the_binaries_is_refused_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etcd").write_text("#!/bin/sh\n")
    (tmp_path / "etcd").chmod(0o755)
    monkeypatch.setenv("FLEETCTL_K8S_ASSETS", str(tmp_path))
    with pytest.raises(ControlPlaneError) as info:
        find_assets()
    message = str(info.value)
    assert "lacks kube-apiserver, kube-controller-manager, kube-scheduler" in message and "make k8s" in message
