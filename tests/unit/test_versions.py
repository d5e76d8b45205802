"""Kata version parsing and ordering, on real strings from upstream."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.errors import VersionParseError
from store.versions import KataVersion, parse_runtime_version_output

V = KataVersion.parse


def test_releases_order_numerically_not_as_text() -> None:
    releases = ["3.2.0", "3.12.0", "3.13.0", "3.24.0", "3.3.0", "4.1.0", "3.10.1", "4.0.0", "3.19.1", "3.32.0"]
    ordered = sorted(releases, key=V)
    assert ordered == ["3.2.0", "3.3.0", "3.10.1", "3.12.0", "3.13.0", "3.19.1", "3.24.0", "3.32.0", "4.0.0", "4.1.0"]


def test_git_describe_string_sits_between_its_tag_and_the_release() -> None:
    v = V("3.3.0-alpha0-2414-g09a13da8e")
    assert (v.major, v.minor, v.patch, v.pre_kind, v.pre_num, v.distance, v.commit) == (
        3, 3, 0, "alpha", 0, 2414, "09a13da8e",
    )  # fmt: skip
    assert V("3.3.0-alpha0") < v < V("3.3.0-alpha1") < V("3.3.0-rc0") < V("3.3.0")
    assert V("3.2.0") < v
    assert str(v) == "3.3.0-alpha0-2414-g09a13da8e"


def test_describe_after_a_release_orders_after_it_and_before_the_next() -> None:
    assert V("3.6.0") < V("3.6.0-2-gabcdef1") < V("3.7.0")
    assert not V("3.6.0-2-gabcdef1").is_release
    assert V("3.6.0-2-gabcdef1").release == V("3.6.0")


def test_pre_releases_order_alpha_beta_rc_release() -> None:
    assert V("4.0.0-alpha1") < V("4.0.0-beta0") < V("4.0.0-rc2") < V("4.0.0")


def test_sort_key_text_order_matches_version_order() -> None:
    versions = [V(s) for s in ["3.2.0", "3.10.1", "3.3.0-alpha0-2414-g09a13da8e", "4.0.0-rc0", "4.0.0", "10.0.0"]]
    assert sorted(versions, key=lambda v: v.sort_key()) == sorted(versions)


def test_leading_v_and_whitespace_are_accepted() -> None:
    assert V(" v3.28.0\n") == V("3.28.0")


def test_partial_versions_only_when_asked() -> None:
    assert V("4.0", allow_partial=True) == V("4.0.0")
    with pytest.raises(VersionParseError, match="no patch number"):
        V("4.0")


@pytest.mark.parametrize(
    "text",
    ["", "   ", "latest", "4", "4.x.0", "3.28.0.1", "3.28.0-foo", "03.1.0", "3.1.0-", "kata 3.1.0", "9" * 100],
)
def test_garbage_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(VersionParseError) as info:
        V(text)
    assert info.value.hint and "3.28.0" in info.value.hint
    assert len(str(info.value)) < 300  # huge input is not echoed in full


def test_kata_runtime_version_output_from_kata_facts() -> None:
    out = "kata-runtime  : 3.6.0\n   commit   : 0123456789abcdef0123456789abcdef01234567\n   OCI specs: 1.1.0+dev\n"
    version, commit = parse_runtime_version_output(out)
    assert version == V("3.6.0")
    assert commit == "0123456789abcdef0123456789abcdef01234567"


def test_kata_runtime_output_without_version_is_an_error() -> None:
    with pytest.raises(VersionParseError, match="kata-runtime : VERSION"):
        parse_runtime_version_output("command not found")


@given(st.text(max_size=80))
def test_parser_raises_only_its_own_error(text: str) -> None:
    try:
        v = V(text, allow_partial=True)
    except VersionParseError:
        return
    assert V(str(v)) == v  # anything accepted round-trips


def test_try_parse_gives_none_for_what_is_not_a_version() -> None:
    assert KataVersion.try_parse("4.1.0") == KataVersion(4, 1, 0)
    for text in (None, "", "latest", "sha256:61b1aba", "4.1"):
        assert KataVersion.try_parse(text) is None, text
