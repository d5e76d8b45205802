"""Fleet profiles: which nodes exist, what runs on them, deterministically from a seed.

- ``seed``: the users' fleet. About 400 nodes and 10,000 vCPUs across amd64, ppc64le and s390x
  in three zones, Kata releases mixed between 3.28 and 4.0, a custom guest kernel on about 15%
  of nodes, and peer pods on some.
- ``small``: the same shape on about 30 nodes, for fast tests.
- ``large``: 10,000 nodes with about 20 pods each, for benchmarks.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

PROFILES = ("seed", "small", "large")
ZONES = ("eu-de-1", "eu-de-2", "eu-de-3")
REGION = "eu-de"
ARCH_SHARES = (("amd64", 0.60), ("s390x", 0.225), ("ppc64le", 0.175))
CPU_CHOICES = {"amd64": (16, 32, 32, 48), "s390x": (16,), "ppc64le": (16,)}
RELEASE_MIX = (("3.28.0", 5), ("3.29.0", 5), ("3.30.0", 10), ("3.31.0", 15), ("3.32.0", 25), ("4.0.0", 40))
CUSTOM_KERNELS = ("6.18.30-acme4", "6.18.30-acme5")
INSTANCE_TYPES = {"amd64": "bx3d-{}x{}", "s390x": "bz2-{}x{}", "ppc64le": "sys-{}x{}"}
HOSTS = {
    "amd64": (
        "Ubuntu 24.04.3 LTS",
        "Ubuntu",
        "24.04",
        "6.8.0-85-generic",
        "GenuineIntel",
        "Intel(R) Xeon(R) Platinum 8474C",
    ),
    "s390x": (
        "Red Hat Enterprise Linux CoreOS 9.6",
        "Red Hat Enterprise Linux CoreOS",
        "9.6",
        "5.14.0-570.58.1.el9_6.s390x",
        "IBM/S390",
        "9175",
    ),
    "ppc64le": (
        "Red Hat Enterprise Linux CoreOS 9.6",
        "Red Hat Enterprise Linux CoreOS",
        "9.6",
        "5.14.0-570.58.1.el9_6.ppc64le",
        "",
        "POWER10 (architected), altivec supported",
    ),
}
APPS = 12  # Kata-run services in the "apps" namespace, each with a PodDisruptionBudget


@dataclass
class NodeSpec:
    """One node of a profile, before it becomes a Node object."""

    name: str
    arch: str
    zone: str
    cpus: int
    memory_gib: int
    release: str
    custom_kernel: str | None
    peer_pods: bool
    secure_execution: bool
    kata_monitor: bool
    ip: str
    pod_cidr: str
    machine_id: str
    system_uuid: str
    boot_id: str
    instance_type: str
    host: dict[str, Any] = field(default_factory=dict)
    builds: int = 0  # Tekton build pods on this node at start (with copied workloads: how many builds it runs)
    apps: list[int] = field(default_factory=list)  # app numbers with a replica here
    ready: bool = True
    unschedulable: bool = False  # cordoned at start
    labels: dict[str, str] = field(default_factory=dict)  # extra labels (a copied fleet keeps its own)


@dataclass
class Workloads:
    """Pods and PodDisruptionBudgets copied from a real cluster, instead of the profile's own.

    Each pod names its node and may carry ``sim.fleetctl.io/run-seconds`` (it finishes then) or
    ``sim.fleetctl.io/replace`` (its controller recreates it elsewhere when it goes).
    """

    pods: list[dict[str, Any]] = field(default_factory=list)
    pdbs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FleetSpec:
    """A whole simulated fleet."""

    profile: str
    seed: int
    nodes: list[NodeSpec]
    template_version: str
    workloads: Workloads | None = None  # None: the profile's builds, apps and PDBs

    @property
    def vcpus(self) -> int:
        """Total vCPUs."""
        return sum(n.cpus for n in self.nodes)


def default_node_count(profile: str) -> int:
    """How many nodes a profile has when --nodes is not given."""
    return {"seed": 400, "small": 30, "large": 10_000}[profile]


def make_fleet(profile: str, *, seed: int, nodes: int | None = None) -> FleetSpec:
    """Build the fleet for ``profile``; the same seed always gives the same fleet."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    rng = random.Random(seed)
    count = nodes if nodes is not None else default_node_count(profile)
    pods_per_node = 20 if profile == "large" else (6 if profile == "seed" else 4)
    specs: list[NodeSpec] = []
    releases = [v for v, _ in RELEASE_MIX]
    weights = [w for _, w in RELEASE_MIX]
    arch_counts = _split(count, ARCH_SHARES)
    index = 0
    for arch, arch_count in arch_counts:
        for i in range(arch_count):
            cpus = rng.choice(CPU_CHOICES[arch])
            memory = cpus * 4
            host = HOSTS[arch]
            specs.append(
                NodeSpec(
                    name=f"kata-{arch}-{i:04d}",
                    arch=arch,
                    zone=ZONES[index % len(ZONES)],
                    cpus=cpus,
                    memory_gib=memory,
                    release=rng.choices(releases, weights)[0],
                    custom_kernel=rng.choice(CUSTOM_KERNELS) if rng.random() < 0.15 else None,
                    peer_pods=arch in ("amd64", "s390x") and rng.random() < 0.08,
                    secure_execution=arch == "s390x" and rng.random() < 0.5,
                    kata_monitor=True,
                    ip=f"10.{20 + index // 62500}.{(index // 250) % 250}.{index % 250 + 1}",
                    pod_cidr=f"10.{128 + index // 256}.{index % 256}.0/24",
                    machine_id=_hex(rng, 32),
                    system_uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    boot_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    instance_type=INSTANCE_TYPES[arch].format(cpus, memory),
                    host={
                        "os_image": host[0],
                        "distro": host[1],
                        "distro_version": host[2],
                        "kernel": host[3],
                        "cpu_vendor": host[4],
                        "cpu_model": host[5],
                        "cpus": cpus,
                        "memory_kib": memory * 1024 * 1024,
                    },
                    builds=max(0, round(rng.gauss(pods_per_node * 0.7, 1))),
                    apps=sorted(rng.sample(range(APPS), k=min(APPS, max(0, round(pods_per_node * 0.3))))),
                )
            )
            index += 1
    return FleetSpec(profile=profile, seed=seed, nodes=specs, template_version="4.0.0")


def _split(total: int, shares: tuple[tuple[str, float], ...]) -> list[tuple[str, int]]:
    counts = [(name, int(total * share)) for name, share in shares]
    counts[0] = (counts[0][0], counts[0][1] + total - sum(c for _, c in counts))
    return counts


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))
