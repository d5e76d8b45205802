"""Arch normalisation and check results."""

from __future__ import annotations

import pytest

from store.arch import Arch, normalize_arch
from store.checks import CheckResult, Status, worst
from store.errors import ArchError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("x86_64", Arch.AMD64),
        ("amd64", Arch.AMD64),
        ("aarch64", Arch.ARM64),
        ("arm64", Arch.ARM64),
        ("ppc64le", Arch.PPC64LE),
        ("ppc64el", Arch.PPC64LE),
        ("s390x", Arch.S390X),
        (" X86_64 ", Arch.AMD64),
    ],
)
def test_arch_spellings(raw: str, expected: Arch) -> None:
    assert normalize_arch(raw) is expected
    assert str(normalize_arch(raw)) == expected.value


@pytest.mark.parametrize("raw", ["i386", "s390", "riscv64", "", "amd 64"])
def test_unknown_arch_is_an_error_listing_the_known_ones(raw: str) -> None:
    with pytest.raises(ArchError) as info:
        normalize_arch(raw)
    assert "s390x" in (info.value.hint or "")


def test_worst_status_ranks_crit_over_warn_over_unknown_over_ok() -> None:
    assert worst([Status.OK, Status.UNKNOWN]) is Status.UNKNOWN
    assert worst([Status.UNKNOWN, Status.WARN, Status.OK]) is Status.WARN
    assert worst([Status.WARN, Status.CRIT]) is Status.CRIT
    assert worst([]) is Status.OK


def test_every_result_needs_a_reason() -> None:
    ok = CheckResult("KATA001", Status.OK, "kata-monitor scraped 3 s ago")
    assert ok.reason
    with pytest.raises(ValueError, match="needs a reason"):
        CheckResult("KATA001", Status.UNKNOWN, "")
