"""Custom-kernel judgement per flavour: a flavoured kernel is judged against its flavour's pin (pure)."""

from __future__ import annotations

import json

import pytest

from collectors.inventory.nodefacts import NodeExtras, build_facts, kernel_pin
from collectors.releases.catalog import flavour_kernel_pins
from collectors.reporter import ANNOTATION_ENV, ANNOTATION_VERSION_FILE
from store.facts import NodeFacts
from store.kernels import GuestKernel

SHARE = "/opt/kata/share/kata-containers"
PINS = {"3.24.0": "6.12.47-173", "4.1.0": "6.18.35-202"}  # the default flavour's, as kernel_pins gives them


def facts(path: str, release: str, flavour_pins: dict[str, dict[str, str]] | None = None) -> NodeFacts:
    """The facts of an amd64 node of ``release`` whose reporter says it boots ``path``."""
    env = {"Kernel": {"Path": path}, "Runtime": {"Version": {"Version": {"Semver": release, "Commit": "abc"}}}}
    node = {
        "metadata": {
            "name": "n1",
            "labels": {"kubernetes.io/arch": "amd64", "katacontainers.io/kata-runtime": "true"},
            "annotations": {ANNOTATION_ENV: json.dumps(env), ANNOTATION_VERSION_FILE: release},
        },
        "status": {
            "nodeInfo": {"architecture": "amd64"},
            "runtimeHandlers": [{"name": "kata-qemu"}, {"name": "kata-qemu-runtime-rs"}],
        },
    }
    return build_facts(node, NodeExtras(deploy_version=release, deploy_state="Running"), PINS, flavour_pins)


@pytest.mark.parametrize(
    ("path", "release", "shown", "custom"),
    [
        # 3.24.0 pins its NVIDIA kernel (6.16.7-173) in the bundled catalog
        (f"{SHARE}/vmlinux-6.16.7-173-nvidia-gpu", "3.24.0", "6.16.7-173-nvidia-gpu", False),
        (f"{SHARE}/vmlinux-6.16.9-173-nvidia-gpu", "3.24.0", "6.16.9-173-nvidia-gpu", True),
        # the default flavour's build with the NVIDIA suffix is not the NVIDIA pin
        (f"{SHARE}/vmlinux-6.12.47-173-nvidia-gpu", "3.24.0", "6.12.47-173-nvidia-gpu", True),
        # flavours whose pin the catalog does not know: unknown, never a guess
        (f"{SHARE}/vmlinux-6.18.35-202-nvidia-gpu", "4.1.0", "6.18.35-202-nvidia-gpu", None),
        (f"{SHARE}/vmlinux-6.12.47-173-confidential", "3.24.0", "6.12.47-173-confidential", None),
        (f"{SHARE}/vmlinux-6.12.47-173-dragonball-experimental", "3.24.0", "6.12.47-173-dragonball-experimental", None),
        (f"{SHARE}/vmlinux-6.12.47-173-debug", "3.24.0", "6.12.47-173-debug", None),
        (f"{SHARE}/vmlinux-6.16.7-173-nvidia-gpu-confidential", "3.24.0", "6.16.7-173-nvidia-gpu-confidential", None),
        # a release with no pin at all
        (f"{SHARE}/vmlinux-6.16.7-173-nvidia-gpu", "3.23.0", "6.16.7-173-nvidia-gpu", None),
        # the default flavour, as before: the release's default pin
        (f"{SHARE}/vmlinux-6.12.47-173", "3.24.0", "6.12.47-173", False),
        (f"{SHARE}/vmlinux-6.12.48-173", "3.24.0", "6.12.48-173", True),
        ("/opt/acme/vmlinux-6.18.30-acme4", "4.1.0", "6.18.30-acme4", True),
    ],
)
def test_a_kernel_is_judged_against_its_flavours_pin_from_the_bundled_catalog(
    path: str, release: str, shown: str, custom: bool | None
) -> None:
    got = facts(path, release)
    assert (got.kata_version, got.guest_kernel, got.custom_kernel) == (release, shown, custom)
    assert got.parse_problems == () and got.drift == ()  # an unknown pin is neither a parse problem nor drift


def test_the_dragonball_suffix_is_the_catalogs_dragonball_flavour() -> None:
    pins = {"3.24.0": {"default": "6.12.47-173", "dragonball": "6.12.47-173"}}
    assert facts(f"{SHARE}/vmlinux-6.12.47-173-dragonball-experimental", "3.24.0", pins).custom_kernel is False
    assert facts(f"{SHARE}/vmlinux-6.12.50-173-dragonball-experimental", "3.24.0", pins).custom_kernel is True
    # a flavour pin given for another flavour says nothing about this one
    assert facts(f"{SHARE}/vmlinux-6.12.47-173-confidential", "3.24.0", pins).custom_kernel is None


def test_kernel_pin_picks_the_flavours_build_or_the_default_one() -> None:
    bundled = flavour_kernel_pins()
    nvidia = GuestKernel.parse("vmlinux-6.16.7-173-nvidia-gpu")
    assert kernel_pin(nvidia, "3.24.0", PINS, bundled) == bundled["3.24.0"]["nvidia-gpu"] == "6.16.7-173"
    assert kernel_pin(nvidia, None, PINS, bundled) is None
    assert kernel_pin(GuestKernel.parse("vmlinux-6.12.47-173"), "3.24.0", PINS, {}) == "6.12.47-173"
    # a suffix that is no Kata flavour is a team's naming: judged against the default pin, as before
    assert kernel_pin(GuestKernel.parse("vmlinux-6.18.30-acme4"), "4.1.0", PINS, bundled) == "6.18.35-202"
