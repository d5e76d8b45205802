"""Health rules: from measurements and node facts to check results with stable codes (pure).

Every rule yields ok, warn, crit or unknown, with a reason. "No data" and "query failed" are
``unknown`` with their own reason, never ``ok``. Codes are stable; scripts key on them.

| code    | check |
|---------|-------|
| KATA001 | kata-monitor scraped (missing target: unknown; up == 0: crit) |
| KATA002 | kata-monitor scrape failures rising |
| KATA003 | shim RPC p99 latency |
| KATA004 | hypervisor threads or open fds running away |
| KATA005 | guest memory pressure |
| KATA006 | kata-monitor sees the node's sandboxes (0 running shims while Kata pods run: unknown; before 4.1.0 it is blind to runtime-rs) |
| KATA010 | node Ready |
| KATA011 | node-problem-detector (and kubelet pressure) conditions |
| KATA012 | FailedCreatePodSandBox events in the last hour |
| KATA013 | a runtime handler of the installed release is missing |
| KATA014 | Kata version drift between signals |
| KATA015 | the node's Kata release is the one its Cloud API Adaptor release pins |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from clients.prom import Sample, scrape_timed_out
from collectors.health.thresholds import Thresholds
from collectors.inventory.caa import LATEST, caa_release
from store.checks import CheckResult, Status
from store.versions import KataVersion

REMEDIATION = {
    "KATA001": "Check this node's kata-monitor pod and that Prometheus discovers it.",  # monitor_fix names where
    "KATA002": "Look at kata-monitor's log on the node; failing scrapes usually mean shims that do not answer (kata-facts: #12666, #3705).",
    "KATA003": "Compare with nodes on the previous release; if only this release is slow, pause the rollout and roll back the node.",
    "KATA004": "A runaway hypervisor leaks threads or fds: drain the node to recycle its sandboxes, and report it upstream with `kata-runtime env`.",
    "KATA005": "Guests are short of memory: raise the pod's memory or the RuntimeClass overhead, or move builds to bigger nodes.",
    "KATA006": "Until kata-monitor counts this node's sandboxes, judge its VMs by other means; for runtime-rs nodes, upgrade to 4.1.0 or later (kata-containers#12666, fixed by #13611).",
    "KATA010": "The node is not Ready: check kubelet and containerd on it (kata-deploy restarts containerd during installs).",
    "KATA011": "A node condition is set: read `kubectl describe node` for node-problem-detector's message.",
    "KATA012": "Sandboxes fail to start: check the handler exists (`kubectl get node -o jsonpath='{.status.runtimeHandlers}'`) and the containerd drop-in.",
    "KATA013": "The install is incomplete: delete the node's kata-deploy pod to reinstall, and check its log.",
    "KATA014": "The node's signals disagree: see the drift reasons; a failed or half-done install is the usual cause.",
    "KATA015": "Upgrade Kata to the release the Cloud API Adaptor pins, or the adaptor to a release that pins this Kata; pin the adaptor's image to a release commit, never latest.",
}
MONITOR_SELECTORS = ("app.kubernetes.io/name=kata-monitor", "name=kata-monitor")
"""How kata-monitor pods are found: the kata-deploy chart's label (3.32.0+), then older manifests' label."""


@dataclass
class NodeInputs:
    """Everything the rules look at for one node."""

    ready: bool | None
    conditions: Sequence[str]
    drift: Sequence[str]
    sandbox_failures: int = 0
    targeted: bool | None = None  # None: Prometheus not configured
    up: Sample = field(default_factory=Sample)
    scrape_error: str | None = None  # Prometheus' last scrape error, when the target is down
    shims: Sample = field(default_factory=Sample)
    scrape_failures_per_min: Sample = field(default_factory=Sample)
    rpc_p99_ms: Sample = field(default_factory=Sample)
    hypervisor_threads: Sample = field(default_factory=Sample)
    hypervisor_fds: Sample = field(default_factory=Sample)
    guest_mem_available: Sample = field(default_factory=Sample)
    arch: str | None = None
    kata_version: str | None = None
    handlers: Sequence[str] = ()
    kata_pods: int | None = None  # Running Kata pods; None: not known
    monitor_namespace: str | None = None  # where this node's kata-monitor pod runs
    monitor_namespaces: Sequence[str] = ()  # every namespace of the cluster with a kata-monitor pod
    caa_version: str | None = None  # the node's Cloud API Adaptor release, as resolved (or its tag)


VM_CHECKS = ("KATA001", "KATA002", "KATA003", "KATA004", "KATA005", "KATA006")  # from kata-monitor, through Prometheus
_AFTER_UP = VM_CHECKS[1:]
BLIND_RUNTIME_RS = (
    "kata-monitor counts 0 running shims while {pods} Kata pods run here: before 4.1.0 it cannot see runtime-rs "
    "sandboxes (kata-containers#12666, fixed by #13611), and runtime-rs is {release}'s default shim on {arch}; "
    "VM health is unknown"
)
NO_PROMETHEUS = "no Prometheus configured: VM health is unknown"
NO_PROMETHEUS_FIX = "Set [prometheus] url in the config, or pass --prometheus URL, so VM health can be measured."


SLOW_SCRAPE = (
    "kata-monitor answered too late: the scrape outlasted Prometheus' scrape_timeout (the target is up, but slow)"
)
SLOW_SCRAPE_FIX = (
    "Raise scrape_timeout (and scrape_interval) for the kata-monitor job, or find what loads the node; "
    "a node that answers late is not a node whose kata-monitor is gone."
)


def monitor_fix(node: NodeInputs) -> str:
    """KATA001's remediation, naming the namespace kata-monitor was found in (or that it was found nowhere)."""
    if node.monitor_namespace:
        return (
            f"Check this node's kata-monitor pod (kubectl -n {node.monitor_namespace} get pods -o wide "
            f"-l {MONITOR_SELECTORS[0]}; older manifests use -l {MONITOR_SELECTORS[1]}) and that Prometheus discovers it."
        )
    if node.monitor_namespaces:
        where = ", ".join(sorted(node.monitor_namespaces))
        return (
            f"kata-monitor runs in namespace {where} but has no pod on this node: check its DaemonSet's "
            "nodeSelector and tolerations, and that Prometheus discovers the node's pod."
        )
    return (
        "No kata-monitor pod was found in any namespace (labels "
        f"{' or '.join(MONITOR_SELECTORS)}): enable it with the kata-deploy chart's monitor.enabled=true "
        "(3.32.0 and later; it runs in the chart's release namespace), then let Prometheus discover it."
    )


def monitor_blind_to_runtime_rs(version: str | None, arch: str | None, handlers: Sequence[str]) -> bool:
    """Whether kata-monitor misses this node's default sandboxes: 4.0.x, where runtime-rs is the
    default shim (ppc64le kept the Go shim until 4.1), and kata-monitor sees no runtime-rs before 4.1.0."""
    v = KataVersion.try_parse(version)
    if v is None or not ((4, 0) <= (v.major, v.minor) < (4, 1)) or arch == "ppc64le":
        return False
    return any(h.endswith("-runtime-rs") for h in handlers)


def _sees_sandboxes(node: NodeInputs) -> CheckResult:
    """KATA006: kata-monitor counts the node's running sandboxes."""
    if (missing := _unknown("KATA006", node.shims, "the running shim count")) is not None:
        return missing
    assert node.shims.value is not None
    shims = int(node.shims.value)
    if node.kata_pods is None:
        return _r(
            "KATA006",
            Status.UNKNOWN,
            f"kata-monitor counts {shims} running shims; how many Kata pods run here is not known",
        )
    if shims > 0 or node.kata_pods == 0:
        return _r(
            "KATA006",
            Status.OK,
            f"kata-monitor counts {shims} running shims; {node.kata_pods} Kata pods run here",
            float(shims),
        )
    if monitor_blind_to_runtime_rs(node.kata_version, node.arch, node.handlers):
        reason = BLIND_RUNTIME_RS.format(pods=node.kata_pods, release=node.kata_version, arch=node.arch)
        return _r("KATA006", Status.UNKNOWN, reason, 0.0)
    return _r(
        "KATA006",
        Status.UNKNOWN,
        f"kata-monitor counts 0 running shims while {node.kata_pods} Kata pods run here: VM health is unknown "
        "(kata-monitor can take up to 60 s to see a new sandbox, kata-containers#3705)",
        0.0,
    )


def _caa(node: NodeInputs) -> CheckResult:
    """KATA015: the Kata release the node's Cloud API Adaptor release pins is the node's."""
    if not node.caa_version:
        return _r("KATA015", Status.OK, "no Cloud API Adaptor on this node")
    release = caa_release(node.caa_version)
    if release is None:
        what = "latest" if node.caa_version == LATEST else f"{node.caa_version}, not a known release"
        return _r(
            "KATA015",
            Status.UNKNOWN,
            f"Cloud API Adaptor image is {what}: which Kata release it expects cannot be told",
        )
    expects = f"Cloud API Adaptor {release.version} expects Kata {release.kata} (its chart's kata-deploy)"
    if node.kata_version is None:
        return _r("KATA015", Status.UNKNOWN, f"{expects}; the node's Kata release is not known")
    if node.kata_version != release.kata:
        return _r("KATA015", Status.WARN, f"{expects}, but the node runs {node.kata_version}")
    return _r("KATA015", Status.OK, f"{expects}, as installed")


def _r(code: str, status: Status, reason: str, value: float | None = None, fix: str | None = None) -> CheckResult:
    return CheckResult(code, status, reason, value, None if status is Status.OK else fix or REMEDIATION[code])


def _unknown(code: str, m: Sample, what: str) -> CheckResult | None:
    if m.failed:
        return _r(code, Status.UNKNOWN, f"query failed: {m.failed}")
    if m.value is None:
        return _r(code, Status.UNKNOWN, f"no data for {what}")
    return None


def _above(code: str, m: Sample, what: str, warn: float, crit: float | None, unit: str) -> CheckResult:
    if (missing := _unknown(code, m, what)) is not None:
        return missing
    assert m.value is not None
    shown = f"{what} is {m.value:.4g}{unit}"
    if crit is not None and m.value >= crit:
        return _r(code, Status.CRIT, f"{shown}, at or over {crit:g}{unit}", m.value)
    if m.value >= warn:
        return _r(code, Status.WARN, f"{shown}, at or over {warn:g}{unit}", m.value)
    return _r(code, Status.OK, shown, m.value)


def evaluate(node: NodeInputs, t: Thresholds) -> list[CheckResult]:
    """Every check for one node."""
    out = [*_kubernetes(node, t)]
    if node.targeted is None:  # no data is never ok: the VM checks are there, unknown, with why
        return out + [_r(code, Status.UNKNOWN, NO_PROMETHEUS, fix=NO_PROMETHEUS_FIX) for code in VM_CHECKS]
    if not node.targeted:
        reason = (
            "no kata-monitor target for this node: VM health is unknown (not deployed, or not discovered by Prometheus)"
        )
        out.append(_r("KATA001", Status.UNKNOWN, reason, fix=monitor_fix(node)))
        out += [_r(code, Status.UNKNOWN, "no kata-monitor target") for code in _AFTER_UP]
        return out
    up = _unknown("KATA001", node.up, "up")
    if up is not None:
        out.append(up)
    elif node.up.value == 0 and scrape_timed_out(node.scrape_error):
        out.append(_r("KATA001", Status.CRIT, SLOW_SCRAPE, 0.0, fix=SLOW_SCRAPE_FIX))
        out += [_r(code, Status.UNKNOWN, "kata-monitor answers too slowly") for code in _AFTER_UP]
        return out
    elif node.up.value == 0:
        out.append(
            _r(
                "KATA001",
                Status.CRIT,
                "kata-monitor target is down (up == 0): Prometheus cannot scrape it",
                0.0,
                fix=monitor_fix(node),
            )
        )
        out += [_r(code, Status.UNKNOWN, "kata-monitor is down") for code in _AFTER_UP]
        return out
    else:
        out.append(_r("KATA001", Status.OK, "kata-monitor scraped", 1.0))
    out.append(
        _above(
            "KATA002",
            node.scrape_failures_per_min,
            "scrape failures per minute",
            t.scrape_failures_warn_per_min,
            t.scrape_failures_crit_per_min,
            "/min",
        )
    )
    sees = _sees_sandboxes(node)
    if node.shims.value == 0 and not node.shims.failed:
        if sees.status is Status.OK or node.kata_pods is None:
            out += [_r(c, Status.OK, "no running sandboxes to measure") for c in ("KATA003", "KATA004", "KATA005")]
        else:  # Kata pods run, but kata-monitor sees none of them: never ok
            blind = f"kata-monitor sees none of the {node.kata_pods} Kata pods here (KATA006)"
            out += [_r(c, Status.UNKNOWN, blind) for c in ("KATA003", "KATA004", "KATA005")]
        out.append(sees)
        return out
    out.append(_above("KATA003", node.rpc_p99_ms, "shim RPC p99 latency", t.rpc_p99_warn_ms, t.rpc_p99_crit_ms, " ms"))
    threads = _above("KATA004", node.hypervisor_threads, "hypervisor threads", t.hypervisor_threads_warn, None, "")
    fds = _above("KATA004", node.hypervisor_fds, "hypervisor open fds", t.hypervisor_fds_warn, None, "")
    out.append(max((threads, fds), key=lambda c: c.status.rank))
    mem = node.guest_mem_available
    if (missing := _unknown("KATA005", mem, "guest memory")) is not None:
        out.append(missing)
    else:
        assert mem.value is not None
        shown = f"lowest guest memory available is {mem.value:.0%}"
        status = (
            Status.CRIT
            if mem.value <= t.guest_mem_available_crit
            else Status.WARN
            if mem.value <= t.guest_mem_available_warn
            else Status.OK
        )
        out.append(_r("KATA005", status, shown, mem.value))
    out.append(sees)
    return out


def _kubernetes(node: NodeInputs, t: Thresholds) -> list[CheckResult]:
    out = []
    if node.ready is None:
        out.append(_r("KATA010", Status.UNKNOWN, "no Ready condition reported"))
    elif node.ready:
        out.append(_r("KATA010", Status.OK, "node is Ready"))
    else:
        ready = next((c for c in node.conditions if c.startswith("Ready=")), "Ready=False")
        out.append(_r("KATA010", Status.CRIT, f"node is not Ready ({ready})"))
    others = [c for c in node.conditions if not c.startswith("Ready=")]
    out.append(
        _r("KATA011", Status.WARN, f"conditions set: {', '.join(others)}")
        if others
        else _r("KATA011", Status.OK, "no problem conditions")
    )
    n = node.sandbox_failures
    status = Status.CRIT if n >= t.sandbox_failures_crit else Status.WARN if n >= t.sandbox_failures_warn else Status.OK
    out.append(_r("KATA012", status, f"{n} FailedCreatePodSandBox events in the last hour", float(n)))
    missing = [d for d in node.drift if d.startswith("handler ")]
    out.append(
        _r("KATA013", Status.CRIT, "; ".join(missing))
        if missing
        else _r("KATA013", Status.OK, "expected runtime handlers present")
    )
    other = [d for d in node.drift if not d.startswith("handler ")]
    out.append(_r("KATA014", Status.WARN, "; ".join(other)) if other else _r("KATA014", Status.OK, "signals agree"))
    out.append(_caa(node))
    return out


def summarize(results: Mapping[str, Sequence[CheckResult]]) -> dict[str, int]:
    """How many nodes are at each worst status."""
    counts = {s.value: 0 for s in Status}
    for checks in results.values():
        worst = max((c.status for c in checks), key=lambda s: s.rank, default=Status.OK)
        counts[worst.value] += 1
    return counts
