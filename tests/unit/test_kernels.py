"""Guest kernel builds from the paths nodes report."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.errors import KernelParseError
from store.kernels import GuestKernel


def test_upstream_confidential_kernel_path() -> None:
    k = GuestKernel.parse("/opt/kata/share/kata-containers/vmlinux-6.18.35-202-confidential")
    assert (k.kernel_version, k.config, k.flavour, k.build) == ("6.18.35", 202, "confidential", "6.18.35-202")
    assert k.is_upstream_scheme
    assert str(k) == "6.18.35-202-confidential"


def test_kernel_from_kata_runtime_env_example() -> None:
    k = GuestKernel.parse("/opt/kata/share/kata-containers/vmlinux-6.1.62-134")
    assert (k.version, k.config, k.flavour) == ((6, 1, 62), 134, None)


@pytest.mark.parametrize("flavour", ["nvidia-gpu", "debug", "confidential", "nvidia-gpu-confidential"])
def test_upstream_flavours(flavour: str) -> None:
    assert GuestKernel.parse(f"vmlinux-6.12.47-173-{flavour}").flavour == flavour


def test_pin_match_ignores_flavour_and_flags_other_builds() -> None:
    pin = GuestKernel.parse("6.18.35-202")
    assert GuestKernel.parse("/opt/kata/share/kata-containers/vmlinux-6.18.35-202-confidential").matches_pin(pin)
    assert not GuestKernel.parse("vmlinux-6.18.35-200").matches_pin(pin)
    assert not GuestKernel.parse("vmlinux-6.18.36-202").matches_pin(pin)


def test_a_teams_own_kernel_scheme_still_parses() -> None:
    k = GuestKernel.parse("/opt/kata/share/kata-containers/vmlinux-6.12.40-acme7")
    assert (k.kernel_version, k.config, k.flavour) == ("6.12.40", None, "acme7")
    assert not k.is_upstream_scheme
    assert not k.matches_pin(GuestKernel.parse("6.12.40-173"))


def test_vmlinuz_is_accepted() -> None:
    assert GuestKernel.parse("vmlinuz-6.18.15-189").build == "6.18.15-189"


@pytest.mark.parametrize(
    "text",
    ["", "/opt/kata/share/kata-containers/vmlinux.container", "bzImage", "vmlinux-", "vmlinux-six", "x" * 500],
)
def test_garbage_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(KernelParseError) as info:
        GuestKernel.parse(text)
    assert info.value.hint and "vmlinux" in info.value.hint
    assert len(info.value.message) < 200


def test_symlink_name_hint_names_the_reporter() -> None:
    with pytest.raises(KernelParseError) as info:
        GuestKernel.parse("/opt/kata/share/kata-containers/vmlinux.container")
    assert "resolve" in (info.value.hint or "")


@given(st.text(max_size=120))
def test_parser_raises_only_its_own_error(text: str) -> None:
    with contextlib.suppress(KernelParseError):
        GuestKernel.parse(text)
