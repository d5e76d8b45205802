"""One node's upgrade: claim → cordon → drain → install → verify → uncordon → done.

Each step is recorded before it runs and after it ran, and each is idempotent, so an executor
that was killed anywhere continues from the last recorded step without repeating work that
shows on the cluster (a second kata-deploy pod deletion would be a second install).
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from clients.kube.errors import KubePermanentError, KubeTemporaryError
from store.engine import Store
from store.models import now
from store.runs import DrainSummary, StepFacts, StepView, set_step
from store.states import STEPS, Eviction, NodeEnd, NodeOutcome, OnTimeout, Step, StepState
from upgrades import failpoints
from upgrades.clock import SYSTEM_CLOCK, Clock
from upgrades.flowerrors import NodeEnded, NodeFailed, NodeInterrupted, NodeSkipped
from upgrades.planfile import DrainMode, PlanSpec
from upgrades.ports import ClusterAPI, Installer, Node, Pod

DRAIN_PARALLEL = 8  # evictions in flight per node
EVICT_BACKOFF_MAX_S = 0.5  # a pod a PDB protects is asked again after poll, 2x poll, ... up to this
WATCH_WINDOW_S = 3.0  # drain watches the node's pods this long between looks
STEP_RETRIES = 3  # a step the API failed (after the client's own retries) runs again this often
STEP_BACKOFF_MAX_S = 5.0
KLM_STATUS = "katacontainers.io/kata-lifecycle-manager-status"
KLM_BUSY = frozenset({"preparing", "cordoned", "draining", "upgrading", "verifying", "rolling-back"})


@dataclass
class FlowContext:
    """What every node flow of a run shares."""

    store: Store
    spec: PlanSpec
    pins: dict[str, str]
    poll_s: float
    installer: Installer  # install.mechanism: how a node gets the target release
    clock: Clock = SYSTEM_CLOCK
    interrupt: threading.Event = field(default_factory=threading.Event)  # stop at the next step boundary


def run_node(ctx: FlowContext, ops: ClusterAPI, step: StepView, listed: Node | None = None) -> NodeOutcome:
    """Carry one node from its recorded step to the end (done, failed or skipped; interrupted on SIGTERM).

    ``listed`` is the node as a list of the wave's start just returned it: claim reads that
    rather than asking again (a stale one only costs cordon a 409 and a fresh read)."""
    start = STEPS.index(step.step) if step.step in STEPS else 0
    facts = StepFacts(**step.facts)
    cordoned = step.cordoned_by_us
    seen: Node | None = None  # the node as claim read it, for cordon's guarded patch
    target = step.target_version or ctx.spec.target
    try:
        first = {} if step.started_at else {"started_at": now()}  # when the node first started: estimates use it
        set_step(ctx.store, step.id, step=STEPS[start], state=StepState.RUNNING, **first)
        index, troubles, name = start, 0, STEPS[start]
        while index < len(STEPS):
            name = STEPS[index]
            if ctx.interrupt.is_set():
                return NodeOutcome.INTERRUPTED
            failpoints.hit(f"before:{name}")
            began = ctx.clock.monotonic()
            try:
                facts, seen, cordoned = _step(ctx, ops, step, name, target, facts, seen, cordoned, listed)
            except KubeTemporaryError as exc:  # a 5xx the client's own retries did not outlast, a refused connection
                troubles += 1
                if troubles > STEP_RETRIES:
                    raise NodeFailed(f"{name}: the API server kept failing: {exc.message}") from None
                ctx.clock.sleep(min(STEP_BACKOFF_MAX_S, ctx.poll_s * 2**troubles))
                continue  # every step may run again from its beginning
            failpoints.hit(f"after:{name}")
            facts.setdefault("seconds", {})[name] = round(ctx.clock.monotonic() - began, 3)
            following = STEPS[index + 1] if index + 1 < len(STEPS) else Step.DONE
            # One write records this step as done and the next as started: a resumed executor
            # re-runs the next step from its beginning, which every step allows.
            set_step(
                ctx.store, step.id, step=following, state=StepState.RUNNING if following != Step.DONE else StepState.DONE,
                facts=facts, cordoned_by_us=cordoned,
            )  # fmt: skip
            index += 1
        return NodeOutcome.DONE
    except NodeInterrupted:
        return NodeOutcome.INTERRUPTED
    except KubePermanentError as exc:
        _give_back(ctx, ops, step, name, cordoned, facts, exc)
        raise
    except NodeEnded as exc:
        state = StepState.FAILED if isinstance(exc, NodeFailed) else StepState.SKIPPED
        ours = True if cordoned else None  # never someone else's cordon
        _persist(ctx, lambda: ops.uncordon(step.node, NodeEnd(state), ours=ours))
        reason, why, warning = f"FleetctlUpgrade{state.title()}", str(exc), state == StepState.FAILED
        _persist(ctx, lambda: ops.event(step.node, facts.get("uid"), reason, why, warning=warning))
        if exc.drain is not None:  # what the drain took, as a finished drain records it
            facts["drain"] = exc.drain
        set_step(ctx.store, step.id, state=state, message=why[:2000], facts=facts)
        return NodeOutcome(state)


def _give_back(
    ctx: FlowContext,
    ops: ClusterAPI,
    step: StepView,
    name: str,
    cordoned: bool,
    facts: StepFacts,
    exc: KubePermanentError,
) -> None:
    """The API server refused a call (403, 404, 422): that is the permissions' or the cluster's
    problem, not the node's. The node is uncordoned if we hold its cordon, and its step goes back
    to claim (every step may run again), so a resume after the fix redoes it; the run then stops."""
    note = f"stopped at {name}: {exc.message}"
    if cordoned:
        try:
            _persist(ctx, lambda: ops.uncordon(step.node, NodeEnd.STOPPED, ours=True))
            cordoned = False
        except KubePermanentError as again:
            note += (
                f"; it is still cordoned, the uncordon was refused too ({again.message}): kubectl uncordon {step.node}"
            )
    set_step(
        ctx.store,
        step.id,
        step=Step.CLAIM,
        state=StepState.PENDING,
        message=note[:2000],
        facts=facts,
        cordoned_by_us=cordoned,
    )


def _persist(ctx: FlowContext, call: Callable[[], object]) -> None:
    """A write that must not be lost to a passing API failure (a failed node's uncordon)."""
    for attempt in range(STEP_RETRIES + 1):
        try:
            call()
            return
        except KubeTemporaryError:
            if attempt == STEP_RETRIES:
                raise
            ctx.clock.sleep(min(STEP_BACKOFF_MAX_S, ctx.poll_s * 2 ** (attempt + 1)))


def _step(
    ctx: FlowContext,
    ops: ClusterAPI,
    step: StepView,
    name: str,
    target: str,
    facts: StepFacts,
    seen: Node | None,
    cordoned: bool,
    listed: Node | None,
) -> tuple[StepFacts, Node | None, bool]:
    """Run one step; the facts, the node as claim saw it, and whether we hold its cordon, after it."""
    if name == Step.CLAIM:
        if "uid" not in facts:  # not claimed yet (a rollback step arrives with expectations only)
            claimed, seen = _claim(ops, step, ctx, listed)
            claimed.update(facts)  # what the step arrived with (a rollback's expected handlers) wins
            facts = claimed
    elif name == Step.CORDON:
        cordoned = ops.cordon(step.node, seen)  # its patch also sets the run and step annotations
    elif name == Step.DRAIN:
        if not cordoned:  # someone else's cordon: no patch of ours has traced the node yet
            ops.trace(step.node, Step.DRAIN)
        if ctx.spec.drain.mode == DrainMode.NONE:  # cordon only: running Kata VMs keep their binaries until they end
            facts["drain"] = DrainSummary(removed=0, refused=0, refusedPods=[])
        else:
            facts["drain"] = drain(ctx, ops, step.node)
    elif name == Step.INSTALL:
        ops.trace(step.node, Step.INSTALL)
        message = f"run {ops.run_id}: {facts.get('version')} -> {target}"
        announce = functools.partial(ops.event, step.node, facts.get("uid"), "FleetctlUpgradeStarted", message)
        ctx.installer.install(ops, step.node, target, started=announce, stop_check=lambda: _check(ctx))
        ops.mark_installed(step.node, target)
    elif name == Step.VERIFY:
        ops.trace(step.node, Step.VERIFY)
        verify(ctx, ops, step.node, target, facts)
    elif name == Step.UNCORDON:
        ops.uncordon(step.node, Step.DONE, ours=cordoned)
        message = f"Kata {target} installed and verified (run {ops.run_id})"
        ops.event(step.node, facts.get("uid"), "FleetctlUpgraded", message)
    return facts, seen, cordoned


def _claim(ops: ClusterAPI, step: StepView, ctx: FlowContext, listed: Node | None) -> tuple[StepFacts, Node]:
    """What the node reports before anything changes (verify compares against it), and the node."""
    node = listed or ops.node(step.node)
    klm = (node["metadata"].get("annotations") or {}).get(KLM_STATUS)
    if klm in KLM_BUSY:
        raise NodeSkipped(
            f"kata-lifecycle-manager is upgrading {step.node} now ({KLM_STATUS}={klm}): fleetctl leaves it alone; "
            "resume this run once that workflow has finished"
        )
    facts = ops.facts(node, ctx.pins)
    return StepFacts(
        uid=node["metadata"].get("uid"),
        arch=facts.arch,
        version=facts.kata_version,
        handlers=list(facts.runtime_handlers),
        guestKernel=facts.guest_kernel,
        customKernel=bool(facts.custom_kernel),
        wasCordoned=bool(node.get("spec", {}).get("unschedulable")),
    ), node


def _evictable(pod: Pod) -> bool:
    meta = pod["metadata"]
    if any(o.get("kind") == "DaemonSet" for o in meta.get("ownerReferences") or []):
        return False
    if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
        return False
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def drain(ctx: FlowContext, ops: ClusterAPI, node: str) -> DrainSummary:
    """Evict (or, opted in, delete) the node's workload pods; then the drain policy decides.

    Returns what it took: pods removed, evictions a PodDisruptionBudget refused (and a few of
    those pods), and seconds spent waiting for build pods."""
    policy = ctx.spec.drain
    deadline = ctx.clock.monotonic() + policy.timeout_s
    retry_at: dict[str, tuple[float, float]] = {}  # pod uid -> (when to ask again, backoff) after a 429
    summary = DrainSummary(removed=0, refused=0, refusedPods=[])
    while True:
        _check(ctx)
        listed, version = ops.pod_list(node)
        pods = [p for p in listed if _evictable(p)]
        if not pods:
            return summary
        now = ctx.clock.monotonic()
        if now >= deadline:
            break
        asks = [  # not those already going, nor those a PodDisruptionBudget refused a moment ago
            p
            for p in pods
            if not p["metadata"].get("deletionTimestamp") and retry_at.get(p["metadata"]["uid"], (0.0, 0.0))[0] <= now
        ]
        for pod, outcome in zip(
            asks, _remove_all(ops, asks, policy.grace_period_s, policy.disable_eviction), strict=True
        ):
            if outcome == Eviction.EVICTED:
                summary["removed"] += 1
            elif outcome == Eviction.BLOCKED:
                _note_refusal(summary, pod)
                uid = pod["metadata"]["uid"]
                backoff = min(EVICT_BACKOFF_MAX_S, 2 * retry_at.get(uid, (0.0, ctx.poll_s / 2))[1])
                retry_at[uid] = (now + backoff, backoff)
        waiting = [
            retry_at[p["metadata"]["uid"]][0] for p in pods if retry_at.get(p["metadata"]["uid"], (0.0,))[0] > now
        ]
        if not waiting:  # every pod is on its way out: watch until they are gone, then list again
            uids = {p["metadata"]["uid"] for p in pods}
            ops.wait_pods_gone(node, uids, version, min(WATCH_WINDOW_S, max(0.0, deadline - ctx.clock.monotonic())))
            continue
        # Some pod waits on a PodDisruptionBudget: ask again at the first retry time, or sooner
        # when others are still terminating.
        pause = ctx.poll_s if len(waiting) < len(pods) else max(ctx.poll_s, min(waiting) - now)
        ctx.clock.sleep(min(pause, max(0.0, deadline - ctx.clock.monotonic())) or ctx.poll_s)
    names = ", ".join(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods[:5])
    why = f"drain timed out after {policy.timeout_s:g}s; {len(pods)} pods remain ({names})"
    if policy.on_timeout == OnTimeout.SKIP:
        raise NodeSkipped(why + "; onTimeout: skip", drain=summary)
    if policy.on_timeout == OnTimeout.WAIT_FOR_BUILDS:
        began = ctx.clock.monotonic()
        try:
            _wait_for_builds(ctx, ops, node, why)
        except NodeFailed as exc:
            exc.drain = summary
            raise
        summary["waitedForBuilds"] = round(ctx.clock.monotonic() - began, 3)
        return summary
    raise NodeFailed(why + "; a PodDisruptionBudget may allow no disruption (onTimeout: fail)", drain=summary)


def _note_refusal(summary: DrainSummary, pod: Pod) -> None:
    summary["refused"] += 1
    name = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
    if name not in summary["refusedPods"] and len(summary["refusedPods"]) < 5:
        summary["refusedPods"].append(name)


def _check(ctx: FlowContext) -> None:
    if ctx.interrupt.is_set():
        raise NodeInterrupted


def _remove_all(ops: ClusterAPI, pods: list[Pod], grace: int | None, delete: bool) -> list[Eviction]:
    """Evict (or delete) the pods at once, as ``kubectl drain`` does: one node's pods wait on each
    other no longer than the slowest."""

    if not pods:
        return []
    reason = "drain (eviction bypassed)" if delete else "drain"
    targets = [f"pod/{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods]
    keys = ops.begin_many("delete-pod" if delete else "evict", targets, reason)  # one commit for the node's pods

    def remove(pod: Pod, key: str) -> Eviction:
        meta = pod["metadata"]
        if not delete:
            return ops.evict(pod, grace, key)
        gone = ops.delete_pod(meta["namespace"], meta["name"], grace=grace, reason=reason, key=key)
        return Eviction.EVICTED if gone else Eviction.GONE

    if len(pods) <= 1:
        return [remove(p, k) for p, k in zip(pods, keys, strict=True)]
    with cf.ThreadPoolExecutor(max_workers=min(DRAIN_PARALLEL, len(pods)), thread_name_prefix="drain") as pool:
        return list(pool.map(remove, pods, keys))


def _wait_for_builds(ctx: FlowContext, ops: ClusterAPI, node: str, why: str) -> None:
    policy = ctx.spec.drain
    builds = {p["metadata"]["uid"] for p in ops.pods_on(node, policy.build_selector) if _evictable(p)}
    others = [p for p in ops.pods_on(node) if _evictable(p) and p["metadata"]["uid"] not in builds]
    if others:
        raise NodeFailed(f"{why}; {len(others)} of them are not build pods ({policy.build_selector})")
    deadline = ctx.clock.monotonic() + policy.build_wait_s
    while ctx.clock.monotonic() < deadline:
        if not any(_evictable(p) for p in ops.pods_on(node, policy.build_selector)):
            return
        ctx.clock.sleep(ctx.poll_s)
    raise NodeFailed(f"{why}; build pods still running after buildWaitLimit {policy.build_wait_s:g}s")


def verify(ctx: FlowContext, ops: ClusterAPI, node: str, target: str, before: StepFacts) -> None:
    """The node reports the target, keeps its handlers (plus the plan's), is Ready, and runs a smoke pod."""
    arch = before.get("arch") or ""
    kept = before.get("expectHandlers", before.get("handlers")) or []  # a rollback expects the pre-upgrade set
    required = set(kept) | set(ctx.spec.verify.handlers.get(arch, ()))
    problems: list[str] = []
    deadline = ctx.clock.monotonic() + 60.0
    while True:
        facts = ops.facts(ops.node(node), ctx.pins)
        problems = []
        if facts.kata_version != target:
            problems.append(f"reports Kata {facts.kata_version}, not {target}")
        missing = sorted(required - set(facts.runtime_handlers))
        if missing:
            problems.append(f"runtimeHandlers lack {', '.join(missing)}")
        if not facts.ready:
            problems.append("is NotReady")
        kernel = kernel_problem(before, facts.custom_kernel, facts.guest_kernel, target)
        if kernel:
            problems.append(kernel)
        if not problems or ctx.clock.monotonic() >= deadline:
            break
        ctx.clock.sleep(ctx.poll_s)
    if problems:
        raise NodeFailed(f"verify: {node} " + "; ".join(problems))
    smoke = ctx.spec.verify.smoke
    if smoke and arch in smoke.runtime_class:
        _smoke(ctx, ops, node, smoke.runtime_class[arch])


def kernel_problem(before: StepFacts, custom: bool | None, kernel: str | None, target: str) -> str | None:
    """Why a node that booted its team's own guest kernel before the install no longer does, or
    None. Judged the release's own kernel (False): lost. Unknown (None, a flavour or release the
    catalog has no pin for): kept only when the kernel is the one it had."""
    if not before.get("customKernel") or custom is True:
        return None
    was = before.get("guestKernel")
    if custom is False:
        return f"lost its custom guest kernel ({was} -> {kernel})"
    if kernel != was:
        return f"changed its custom guest kernel ({was} -> {kernel}), and no kernel pin of {target} tells whose it is"
    return None


def _smoke(ctx: FlowContext, ops: ClusterAPI, node: str, runtime_class: str) -> None:
    smoke = ctx.spec.verify.smoke
    assert smoke is not None
    name = f"fleetctl-smoke-{ops.run_id}-{node}"[:253]
    pod: Pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": smoke.namespace,
            "labels": {"app.kubernetes.io/managed-by": "fleetctl"},
        },
        "spec": {
            "nodeName": node,
            "runtimeClassName": runtime_class,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": max(1, int(smoke.timeout_s)),
            "tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "smoke", "image": smoke.image, "command": ["sh", "-c", "uname -r"]}],
        },
    }
    existing = ops.pod(smoke.namespace, name)
    if existing and (existing.get("status") or {}).get("phase") == "Failed":
        ops.delete_pod(smoke.namespace, name, grace=0, reason="smoke retry")
        existing = None
    if existing is None:
        ops.create_pod(pod, reason=f"smoke test with {runtime_class}")
    deadline = ctx.clock.monotonic() + smoke.timeout_s
    phase = "Pending"
    while ctx.clock.monotonic() < deadline:
        ctx.clock.sleep(ctx.poll_s)
        current = ops.pod(smoke.namespace, name)
        phase = ((current or {}).get("status") or {}).get("phase", "Pending")
        if phase in ("Succeeded", "Failed"):
            break
    ops.delete_pod(smoke.namespace, name, grace=0, reason="smoke test finished")
    if phase != "Succeeded":
        raise NodeFailed(f"smoke pod with RuntimeClass {runtime_class} ended {phase} on {node}")
