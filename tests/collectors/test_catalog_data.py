"""The bundled release catalog's data (collectors/releases/catalog.json): its shape, its order, the asset
naming changes upstream made, and a few values checked against their sources."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources

import pytest

from collectors.releases.catalog import ensure_catalog, flavour_kernel_pins, kernel_pins
from collectors.releases.feed import bundled_catalog
from collectors.releases.schema import ARCHES, FLAVOURS, CatalogError, load_catalog
from store.engine import Store
from store.kernels import GuestKernel
from store.releases import list_releases
from store.versions import KataVersion

CATALOG = load_catalog()
BY_VERSION = {r.version: r for r in CATALOG.releases}

# Releases the sources used (docs/collectors.md, "Sources") give no date for. Fill a date in
# catalog.json and remove the release here; the test then holds it to the same rules as the others.
NO_DATE_KNOWN = {
    "3.0.1", "3.1.0", "3.3.0", "3.5.0", "3.6.0", "3.10.0", "3.10.1", "3.15.0", "3.18.0", "3.19.0", "3.19.1",
}  # fmt: skip


def _raw() -> dict[str, object]:
    data = json.loads(resources.files("collectors.releases").joinpath("catalog.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_every_release_parses_once_and_the_catalog_runs_oldest_to_newest() -> None:
    versions = [KataVersion.parse(r.version) for r in CATALOG.releases]
    assert all(v.is_release for v in versions)
    keys = [v.sort_key() for v in versions]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert CATALOG.newest.version == "4.2.0"  # quay's `latest` by 2026-09 (kata-facts.md, "Releases")


def test_the_line_from_3_0_to_4_2_is_complete_with_its_patch_releases() -> None:
    minors = {f"3.{m}.0" for m in range(33)} | {"4.0.0", "4.1.0", "4.2.0"}
    patches = {"3.0.1", "3.1.1", "3.1.2", "3.1.3", "3.10.1", "3.19.1"}
    assert set(BY_VERSION) == minors | patches
    assert len(CATALOG.releases) == 42


def test_every_release_has_a_date_unless_no_source_gives_one() -> None:
    for r in CATALOG.releases:
        if r.version in NO_DATE_KNOWN:
            assert r.date is None and r.date_basis is None, r.version
        else:
            assert r.date is not None and r.date_basis in ("tag", "release-pr"), r.version
    dated = [r.date for r in CATALOG.releases if r.date is not None]
    assert dated == sorted(dated)  # no stable branch outlived a newer minor in this range


def test_every_release_names_its_sources_and_every_source_is_described() -> None:
    for r in CATALOG.releases:
        assert r.sources and set(r.sources) <= set(CATALOG.sources), r.version


def test_the_pin_is_the_default_flavour_build_and_parses_as_a_guest_kernel() -> None:
    for r in CATALOG.releases:
        assert set(r.kernels) == set(FLAVOURS)
        assert r.guest_kernel == r.kernel_build("default"), r.version
        if r.guest_kernel:
            pin = GuestKernel.parse(r.guest_kernel)
            assert (pin.kernel_version, pin.config, pin.flavour) == (r.kernels["default"], r.kata_config_version, None)
    configs = [r.kata_config_version for r in CATALOG.releases if r.kata_config_version is not None]
    assert configs == sorted(configs)  # kata_config_version only ever goes up


def test_static_tarballs_are_xz_up_to_3_20_and_zst_from_3_21() -> None:
    for r in CATALOG.releases:
        v = KataVersion.parse(r.version)
        if v < KataVersion(3, 2, 0):
            continue  # asset names before 3.2.0 used x86_64-style arches and are not listed per release
        statics = r.asset_names("kata-static")
        assert [n.split(f"kata-static-{r.version}-", 1)[1].split(".")[0] for n in statics] == list(r.arches)
        suffix = ".tar.zst" if v >= KataVersion(3, 21, 0) else ".tar.xz"
        assert statics and all(n.endswith(suffix) for n in statics), r.version
    assert BY_VERSION["3.20.0"].asset_names("kata-static")[0] == "kata-static-3.20.0-amd64.tar.xz"
    assert BY_VERSION["3.21.0"].asset_names("kata-static")[0] == "kata-static-3.21.0-amd64.tar.zst"


def test_kata_go_static_ships_from_4_1_for_every_arch() -> None:
    for r in CATALOG.releases:
        go = r.asset_names("kata-go-static")
        if KataVersion.parse(r.version) >= KataVersion(4, 1, 0):
            assert go == [f"kata-go-static-{r.version}-{a}.tar.zst" for a in r.arches], r.version
        else:
            assert go == [], r.version
    assert not any(n.startswith("kata-go-static") for n in BY_VERSION["4.0.0"].asset_names())


def test_arches_and_assets_follow_the_release() -> None:
    for r in CATALOG.releases:
        assert set(r.arches) <= set(ARCHES)
        for asset in r.assets:
            url = asset.get("browser_download_url")
            assert (
                url
                == f"https://github.com/kata-containers/kata-containers/releases/download/{r.version}/{asset['name']}"
            )
            assert r.version in str(asset["name"])
    # ppc64le from 3.3.0 (kata-facts.md, "Releases"); the test_collect_cli assertion on 3.2.0 relies on it
    assert "ppc64le" not in BY_VERSION["3.2.0"].arches and "ppc64le" in BY_VERSION["3.3.0"].arches
    assert BY_VERSION["3.24.0"].asset_names("kata-tools-static") == []
    assert BY_VERSION["3.25.0"].asset_names("kata-tools-static") == ["kata-tools-static-3.25.0-amd64.tar.zst"]
    assert BY_VERSION["3.11.0"].asset_names("kata-deploy-chart") == []
    assert BY_VERSION["3.12.0"].asset_names("kata-deploy-chart") == ["kata-deploy-3.12.0.tgz"]


def test_known_values_from_their_sources() -> None:
    r = BY_VERSION["3.24.0"]
    # kata-containers/kata-containers @ 3.24.0: versions.yaml assets.kernel.version v6.12.47, its NVIDIA
    # kernel 6.16.7, tools/packaging/kernel/kata_config_version 173 (kata-facts.md "Releases"; issue 20)
    assert (r.guest_kernel, r.kernels["nvidia-gpu"], r.kernel_build("nvidia-gpu")) == (
        "6.12.47-173",
        "6.16.7",
        "6.16.7-173",
    )
    assert dict(r.hypervisors) == {"qemu": "10.1.1", "cloud-hypervisor": "v48.0", "firecracker": "v1.12.1"}
    # kata-containers/kata-containers @ 3.27.0: versions.yaml QEMU v10.2.1, Cloud Hypervisor v48.0,
    # Firecracker v1.12.1 (issue 20); kernel pin 6.18.12-181 (kata-facts.md "Releases")
    r = BY_VERSION["3.27.0"]
    assert dict(r.hypervisors) == {"qemu": "10.2.1", "cloud-hypervisor": "v48.0", "firecracker": "v1.12.1"}
    assert (r.guest_kernel, r.kata_config_version) == ("6.18.12-181", 181)
    # kata-containers/kata-containers @ 4.1.0: versions.yaml kernel v6.18.35, kata_config_version 202,
    # QEMU 11.0.1, Cloud Hypervisor v51.1, Firecracker v1.12.1 (kata-facts.md "Releases")
    r = BY_VERSION["4.1.0"]
    assert (r.guest_kernel, r.hypervisors["qemu"], r.hypervisors["cloud-hypervisor"]) == (
        "6.18.35-202",
        "11.0.1",
        "v51.1",
    )
    # release dates: the tag commit of 4.0.0 (kata-facts.md), and the version-bump PR of 4.2.0
    # (kata-containers/kata-containers#13833, approved 2026-09-15)
    assert (str(BY_VERSION["4.0.0"].date), BY_VERSION["4.0.0"].date_basis) == ("2026-07-20", "tag")
    assert (str(BY_VERSION["4.2.0"].date), BY_VERSION["4.2.0"].date_basis) == ("2026-09-15", "release-pr")
    assert BY_VERSION["4.2.0"].guest_kernel is None  # not found; see docs/collectors.md "What is missing"
    # 3.20.0: nymtech/nym docker/localnet/README.md @ 4b9fdc91, kata-static-3.20.0-arm64.tar.xz ships
    # vmlinux-6.12.42-162; 3.17.0: apple/container ClientDefaults.swift @ 809719f8, vmlinux-6.12.28-153
    assert (BY_VERSION["3.20.0"].guest_kernel, BY_VERSION["3.17.0"].guest_kernel) == ("6.12.42-162", "6.12.28-153")
    # 4.2.0: kete-org/ketecode s0/inspect-kata.txt @ 47212466, QEMU 11.0.1 (kata-static), guest uname 6.18.35
    assert (BY_VERSION["4.2.0"].kernels["default"], BY_VERSION["4.2.0"].hypervisors["qemu"]) == ("6.18.35", "11.0.1")


def test_the_store_gets_the_default_pins_and_no_date_for_a_release_without_one() -> None:
    infos = {i.version: i for i in bundled_catalog()}
    assert list(infos) == [r.version for r in CATALOG.releases]
    for r in CATALOG.releases:
        info = infos[r.version]
        assert info.guest_kernel == r.guest_kernel and dict(info.hypervisors) == dict(r.hypervisors)
        assert info.arches == r.arches and info.prerelease is False
        if r.date is None:
            assert info.published_at is None
        else:
            assert info.published_at == datetime(r.date.year, r.date.month, r.date.day, tzinfo=UTC)


def test_kernel_pins_and_the_newest_release_in_the_store(store: Store) -> None:
    assert ensure_catalog(store) is not None
    pins = kernel_pins(store)
    assert pins == {r.version: r.guest_kernel for r in CATALOG.releases if r.guest_kernel}
    assert pins["4.1.0"] == "6.18.35-202" and "4.2.0" not in pins
    with store.read() as session:
        assert list_releases(session)[0].version == "4.2.0"  # what "newest" / "latest" readers now see


def test_flavour_pins_add_the_flavours_the_store_does_not_keep() -> None:
    pins = flavour_kernel_pins()
    assert pins["3.24.0"] == {"default": "6.12.47-173", "nvidia-gpu": "6.16.7-173"}
    assert pins["4.1.0"] == {"default": "6.18.35-202"} and "4.2.0" not in pins
    assert {v: p["default"] for v, p in pins.items()} == {
        r.version: r.guest_kernel for r in CATALOG.releases if r.guest_kernel
    }
    with pytest.raises(ValueError, match="unknown guest kernel flavour"):
        BY_VERSION["3.24.0"].kernel_build("nvidia")


def test_the_first_catalog_format_still_loads() -> None:
    old = {"releases": [{"version": "3.2.0", "date": "2023-10-23", "guest_kernel": "6.1.38-114", "hypervisors": {},
                         "arches": ["amd64"], "assets": [{"name": "kata-static-3.2.0-amd64.tar.xz"}]}]}  # fmt: skip
    (r,) = load_catalog(json.dumps(old)).releases
    assert (r.kernels["default"], r.kata_config_version, r.kernel_build()) == ("6.1.38", 114, "6.1.38-114")
    assert r.date_basis is None and r.sources == ()


@pytest.mark.parametrize(
    ("releases", "message"),
    [
        ([{"version": "3.3.0"}, {"version": "3.2.0"}], "oldest first"),
        ([{"version": "3.2.0"}, {"version": "3.2.0"}], "listed twice"),
        ([{"version": "3.2.0", "guest_kernel": "6.1.38-114", "kata_config_version": 115}], "disagrees"),
        ([{"version": "3.2.0", "kernels": {"gpu": "6.1"}}], "unknown guest kernel flavour"),
        ([{"version": "3.2.0", "date": "23 Oct 2023"}], "YYYY-MM-DD"),
        ([{"version": "3.2.0-rc0"}], "plain release"),
    ],
)
def test_a_malformed_catalog_is_refused(releases: list[dict[str, object]], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(json.dumps({"releases": releases}))


def test_the_file_keeps_its_documented_top_level_shape() -> None:
    data = _raw()
    assert set(data) == {"_comment", "schema", "sources", "releases"} and data["schema"] == 2
