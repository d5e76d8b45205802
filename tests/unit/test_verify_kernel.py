"""Verify's guest-kernel rule, in-process: a node that booted its team's own kernel must still do so."""

from __future__ import annotations

from store.runs import StepFacts
from upgrades.nodeflow import kernel_problem

CUSTOM: StepFacts = {"customKernel": True, "guestKernel": "6.18.30-acme4"}


def test_a_kernel_judged_the_releases_own_is_a_lost_custom_kernel() -> None:
    assert kernel_problem(CUSTOM, False, "6.18.35-202", "4.1.0") == (
        "lost its custom guest kernel (6.18.30-acme4 -> 6.18.35-202)"
    )


def test_an_unknown_judgement_passes_only_when_the_kernel_is_unchanged() -> None:
    assert kernel_problem(CUSTOM, None, "6.18.30-acme4", "4.2.0") is None  # 4.2.0 has no pin, same kernel
    changed = kernel_problem(CUSTOM, None, "6.18.35-203", "4.2.0")
    assert changed == (
        "changed its custom guest kernel (6.18.30-acme4 -> 6.18.35-203), and no kernel pin of 4.2.0 tells whose it is"
    )


def test_nodes_without_a_custom_kernel_and_kept_custom_kernels_pass() -> None:
    assert kernel_problem(CUSTOM, True, "6.18.30-acme5", "4.1.0") is None
    assert kernel_problem({"customKernel": False, "guestKernel": "6.18.15-186"}, False, "6.18.35-202", "4.1.0") is None
    assert kernel_problem({}, None, None, "4.1.0") is None
