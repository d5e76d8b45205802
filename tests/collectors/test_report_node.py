"""`fleetctl report-node` against the simulator, with a fixture /opt/kata tree and a stand-in kata-runtime."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from kubernetes import client

from simulator.server import Simulator
from tests.support.cli import assert_clean_error, fleetctl
from tests.support.katatree import ENV, RUST_SHIM, RUST_SHIM_VERSION, kata_tree
from tests.support.sim import api_client


def report_node(sim: Simulator, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`fleetctl report-node ARGS` against ``sim``."""
    return fleetctl("--kubeconfig", str(sim.kubeconfig), "report-node", *args, env=env)


def test_report_node_publishes_kata_runtime_env_and_the_version_file(fresh_sim: Simulator, tmp_path: Path) -> None:
    kata = kata_tree(tmp_path)
    result = report_node(fresh_sim, "--node", "kata-amd64-0000", "--kata-dir", str(kata))
    assert result.returncode == 0, result.stderr
    assert "node/kata-amd64-0000 annotated from kata-runtime env" in result.stdout
    node = client.CoreV1Api(api_client(fresh_sim)).read_node("kata-amd64-0000")
    notes = node.metadata.annotations
    env = json.loads(notes["reporter.fleetctl.io/kata-env"])
    assert notes["reporter.fleetctl.io/version-file"] == "4.1.0"
    assert env["Kernel"]["Path"] == "/opt/kata/share/kata-containers/vmlinux-6.18.35-202"  # the symlink, resolved
    assert env["Runtime"]["Version"]["Version"]["Semver"] == "4.1.0" and "Netmon" not in env
    assert notes["reporter.fleetctl.io/source"] == "kata-runtime env"
    assert node.metadata.labels["kubernetes.io/arch"] == "amd64"  # a merge patch: nothing else touched


def test_report_node_falls_back_to_kata_ctl(fresh_sim: Simulator, tmp_path: Path) -> None:
    kata = kata_tree(tmp_path, binary="kata-ctl")
    result = report_node(fresh_sim, "--node", "kata-amd64-0001", "--kata-dir", str(kata), "--dry-run")
    assert result.returncode == 0, result.stderr
    notes = json.loads(result.stdout)
    assert json.loads(notes["reporter.fleetctl.io/kata-env"])["Hypervisor"]["MachineType"] == "q35"
    assert notes["reporter.fleetctl.io/source"] == "kata-ctl env"


def test_a_runtime_rs_only_node_is_reported_from_its_shim(fresh_sim: Simulator, tmp_path: Path) -> None:
    kata = kata_tree(tmp_path, binary=None, shim=(RUST_SHIM, RUST_SHIM_VERSION))  # 4.1+: no kata-runtime
    result = report_node(fresh_sim, "--node", "kata-amd64-0003", "--kata-dir", str(kata))
    assert result.returncode == 0, result.stderr
    assert "node/kata-amd64-0003 annotated from containerd-shim-kata-v2 --version" in result.stdout
    notes = client.CoreV1Api(api_client(fresh_sim)).read_node("kata-amd64-0003").metadata.annotations
    assert notes["reporter.fleetctl.io/source"] == "containerd-shim-kata-v2 --version"
    env = json.loads(notes["reporter.fleetctl.io/kata-env"])
    assert env["Runtime"]["Version"]["Version"] == {"Semver": "4.1.0", "Commit": "f6e5d4c3b2"}
    assert env["Kernel"]["Path"] == "/opt/kata/share/kata-containers/vmlinux-6.18.35-202"


def test_report_node_without_kata_or_node_name_exits_2(fresh_sim: Simulator, tmp_path: Path) -> None:
    empty = report_node(fresh_sim, "--node", "kata-amd64-0001", "--kata-dir", str(tmp_path))
    assert_clean_error(empty, 2)
    assert "no kata-runtime, no kata-ctl, no containerd-shim-kata-v2 and no VERSION file" in empty.stderr
    env = {k: v for k, v in os.environ.items() if k != "NODE_NAME"}
    nameless = report_node(fresh_sim, "--kata-dir", str(kata_tree(tmp_path)), env=env)
    assert_clean_error(nameless, 2)
    assert "NODE_NAME" in nameless.stderr


def test_an_oversized_env_is_refused(fresh_sim: Simulator, tmp_path: Path) -> None:
    kata = kata_tree(tmp_path, env={**ENV, "Host": {"Kernel": "k" * 70_000}})
    result = report_node(fresh_sim, "--node", "kata-amd64-0002", "--kata-dir", str(kata))
    assert_clean_error(result, 2)
    assert "over the 65536-byte annotation cap" in result.stderr
