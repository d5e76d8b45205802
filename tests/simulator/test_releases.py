"""The simulator's releases against the bundled catalog: where the catalog knows a release's kernel pin
or a hypervisor version, the simulated nodes report exactly that (elsewhere the simulator's values are
stand-ins, and the catalog has none to contradict)."""

from __future__ import annotations

from collectors.releases.catalog import load_catalog
from simulator import kata

CATALOG = {r.version: r for r in load_catalog().releases}


def test_every_simulated_release_is_in_the_catalog_with_its_kernel_pin() -> None:
    assert set(kata.RELEASES) <= set(CATALOG)
    for version, sim in kata.RELEASES.items():
        pin = CATALOG[version].guest_kernel
        assert pin is not None, f"{version}: the catalog has no kernel pin, so its nodes' kernels cannot be judged"
        assert sim.kernel == pin, version


def test_hypervisor_versions_agree_where_the_catalog_knows_them() -> None:
    names = {"qemu": "qemu", "cloud-hypervisor": "clh", "firecracker": "fc"}
    compared = 0
    for version, sim in kata.RELEASES.items():
        for hypervisor, known in CATALOG[version].hypervisors.items():
            if hypervisor in names:
                assert getattr(sim, names[hypervisor]) == known, (version, hypervisor)
                compared += 1
    assert compared >= 20  # 3.24.0 to 4.1.0 have most of theirs
