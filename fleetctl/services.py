"""The composition root: where the CLI, the dashboard, ``serve``, the demo and rehearsal get their
clients, executors and health rounds, wired the same way for all of them.

Nothing here decides what to do, only how the parts are put together: settings become Prometheus
settings and executor options, kubeconfig contexts become API clients (both are made here and
nowhere else), a stored run becomes an executing one, and resume is written once. Imports stay inside the functions, so a command that
needs none of this starts without loading it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from fleetctl.console import err
from fleetctl.settings import Settings
from store.durations import parse_duration
from store.errors import BadInputError, PlanRefusedError, RefusedError, UnreachableError
from store.states import ACTIVE_RUNS, Outcome, RunState

if TYPE_CHECKING:
    import threading
    from datetime import timedelta
    from pathlib import Path

    from clients.kube.client import KubeClient
    from clients.prom import PromConfig
    from store.engine import Store
    from store.runs import RunView
    from upgrades.deployment import Deployment
    from upgrades.executor import ExecutorOptions
    from upgrades.planfile import PlanSpec
    from upgrades.planner import Plan
    from upgrades.preflight import ClusterFacts, Finding


def executor_options(
    settings: Settings, prometheus: str | None, poll: str, lease_ttl: str, *, need_prometheus: bool
) -> ExecutorOptions:
    """How an executor works from the CLI and the dashboard: poll and lease TTL as given, the
    Prometheus the settings name (checked to answer when the run's gates need it), progress on a
    terminal only."""
    from upgrades.lease import new_identity

    warn_unknown_prom_contexts(settings)
    return make_executor_options(
        settings.prom_config(prometheus),
        need_prometheus=need_prometheus,
        poll_s=parse_duration(poll, where="--poll").total_seconds(),
        lease_ttl=parse_duration(lease_ttl, where="--lease-ttl"),
        actor=f"fleetctl/{new_identity()}",
        progress=err if sys.stderr.isatty() else (lambda _m: None),
    )


def make_executor_options(
    prometheus: PromConfig | None,
    *,
    need_prometheus: bool,
    poll_s: float,
    lease_ttl: timedelta,
    actor: str,
    progress: Callable[[str], None],
    pins: dict[str, str] | None = None,
    interrupt: threading.Event | None = None,
) -> ExecutorOptions:
    """The one place an ``ExecutorOptions`` is made (the CLI, the dashboard, ``serve``, rehearsal
    and the demo): when the run's gates need Prometheus, it is checked to be configured and to answer."""
    import threading

    from upgrades.executor import ExecutorOptions

    if need_prometheus:
        _check_prometheus(prometheus)
    return ExecutorOptions(
        poll_s=poll_s,
        lease_ttl=lease_ttl,
        prometheus=prometheus,
        pins=pins if pins is not None else {},
        actor=actor,
        progress=progress,
        interrupt=interrupt if interrupt is not None else threading.Event(),
    )


def _check_prometheus(prom: PromConfig | None) -> None:
    """A run whose gates need Prometheus refuses to start without one that answers."""
    from dataclasses import replace

    from clients.prom import PromSource

    if prom is None:
        raise RefusedError(
            "the plan has gates but no Prometheus is configured",
            where="spec.gates",
            hint="pass --prometheus URL or set [prometheus] url, or set spec.gates.enabled: false to go without gates",
        )
    for url in prom.urls():  # each cluster's Prometheus ([prometheus.contexts.*] url), or the one
        answer = PromSource(replace(prom, url=url), "1m").values("vector(1)")
        if isinstance(answer, str):
            raise UnreachableError(
                f"Prometheus at {url} does not answer: {answer}",
                where="--prometheus",
                hint="start it or fix the URL; gates never pass without data (or set spec.gates.enabled: false)",
            )


def warn_unknown_prom_contexts(settings: Settings) -> None:
    """A ``[prometheus.contexts.<name>]`` naming no context of the kubeconfig is warned about (it
    may be another machine's kubeconfig; a cluster it does not name just has no table of its own)."""
    import difflib

    from clients.kube.config import context_names
    from store.errors import FleetctlError

    named = sorted((settings.prometheus.get("contexts") or {}).keys())
    if not named:
        return
    try:
        known, _current = context_names(settings.kubeconfig)
    except (FleetctlError, OSError):
        return  # no kubeconfig to compare with (in a pod, say): nothing to say
    for name in named:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (contexts: {', '.join(known) or 'none'})"
            err(f"warning: [prometheus.contexts.{name}] names no context of {settings.kubeconfig}{hint}")


def open_clients(
    kubeconfig: Path, names: list[str] | None = None, *, all_contexts: bool = False, timeout: float = 30.0
) -> list[KubeClient]:
    """The one place a ``KubeClient`` is made: one for each named kubeconfig context (default: the
    current-context; every context with ``all_contexts``; in a pod, its service account)."""
    from clients.kube.client import KubeClient
    from clients.kube.config import open_contexts

    return [KubeClient(c, timeout=timeout) for c in open_contexts(kubeconfig, names, all_contexts=all_contexts)]


def kube_clients(settings: Settings, clusters: set[str]) -> dict[str, KubeClient]:
    """An API client for each named kubeconfig context, by name."""
    return {c.name: c for c in open_clients(settings.kubeconfig, sorted(clusters))}


def check_clusters(
    store: Store, clients: dict[str, KubeClient], spec: PlanSpec, plan: Plan
) -> tuple[dict[str, Deployment], list[Finding]]:
    """Each cluster's deployment (install mechanism, Helm owner) and the pre-flight findings, read
    before anything is written; a cluster the plan cannot upgrade, or a refusing finding, refuses
    the whole plan (exit 1) with its fix."""
    from upgrades.cluster import ClusterOps
    from upgrades.deployment import DeploymentRefused, detect
    from upgrades.preflight import Severity, check

    found, findings, refused = {}, [], []
    for name, client in sorted(clients.items()):
        ops = ClusterOps(client, store, run_id=0, actor="fleetctl/preflight")
        try:
            found[name] = detect(ops, spec.install)
        except DeploymentRefused as exc:
            refused.append(str(exc))
            continue
        findings += check(_cluster_facts(ops, spec, plan, found[name]))
    refused += [f.line() for f in findings if f.severity == Severity.REFUSE]
    if refused:
        raise PlanRefusedError("; ".join(refused), where="spec.install", hint="nothing was changed in any cluster")
    return found, findings


def _cluster_facts(ops: Any, spec: PlanSpec, plan: Plan, deployment: Deployment) -> ClusterFacts:
    """What the pre-flight checks read from one cluster (a few GETs and lists)."""
    from upgrades.planfile import DrainMode, Mechanism
    from upgrades.preflight import ClusterFacts, chart_version

    conf, nodes = spec.install, [c for c in plan.nodes if c.cluster == ops.cluster]
    ds = ops.find_daemonset(conf.namespace, conf.daemonset) if deployment.mechanism == Mechanism.DAEMONSET else None
    owner = ds or (ops.config_map(conf.namespace, conf.job_templates) if deployment.helm_release else None)
    classes = {
        rc["metadata"]["name"]: str(version)
        for page in ops.client.list_pages("/apis/node.k8s.io/v1/runtimeclasses")
        for rc in page.get("items") or []
        if (version := (rc["metadata"].get("annotations") or {}).get("katacontainers.io/kata-version"))
    }
    return ClusterFacts(
        cluster=ops.cluster, target=spec.target,
        node_releases={c.name: c.kata for c in nodes}, node_runtimes={c.name: c.runtime for c in nodes},
        deploy_image=ds["spec"]["template"]["spec"]["containers"][0]["image"] if ds else None,
        chart_version=chart_version(owner) if deployment.helm_release else None, helm_release=deployment.helm_release,
        runtimeclass_versions=classes, cordon_only=spec.drain.mode == DrainMode.NONE,
        nfd_node=_nfd_node(ops) if deployment.helm_release else None,
    )  # fmt: skip


def _nfd_node(ops: Any) -> str | None:
    """A node that node-feature-discovery has labelled, if any (one node listed by label)."""
    from upgrades.preflight import NFD_LABEL

    page = ops.client.get("/api/v1/nodes", {"labelSelector": NFD_LABEL, "limit": 1})
    items = page.get("items") or []
    return str(items[0]["metadata"]["name"]) if items else None


def execute_run(
    store: Store,
    settings: Settings | None,
    run_id: int,
    options: ExecutorOptions,
    clients: dict[str, KubeClient] | None = None,
    *,
    view: RunView | None = None,
) -> Outcome:
    """Execute a stored run here until it is done, paused or aborted; what it ended in. Without
    ``clients``, the settings' kubeconfig gives one for each cluster the run touches (those of
    ``view``, the run as already read, when given)."""
    from store.runs import read_run
    from upgrades.executor import Executor

    view = view or read_run(store, run_id)
    check_gate_queries(view, options)
    if clients is None:
        assert settings is not None, "execute_run needs the settings or the clients"
        clients = kube_clients(settings, {s.cluster for s in view.steps})
    return Executor(store, clients, run_id, options).execute()


def check_gate_queries(view: RunView, options: ExecutorOptions) -> None:
    """Before any node is touched: every gate query can carry each cluster's matcher (a query
    with a matcher of its own on ``cluster_label`` is a ``BadInputError`` naming the check)."""
    from clients.prom import PromSource
    from upgrades.gates import GateScope, check_queries
    from upgrades.planfile import parse_plan
    from upgrades.rundoc import RunPlan

    if options.prometheus is None or not _needs_prometheus(view):
        return
    spec = parse_plan(RunPlan.parse(view.run.plan).source, where=f"run {view.run.id} plan")
    scopes = []
    for cluster in sorted({s.cluster for s in view.steps}):
        prom = options.prometheus.for_cluster(cluster)
        scopes.append(GateScope(cluster, PromSource(prom, "1m") if prom else None, [], []))
    check_queries(spec.gates, scopes, target=spec.target)


def needs_prometheus(store: Store, run_id: int) -> bool:
    """Whether executing the stored run needs Prometheus (``RunPlan.needs_prometheus``, the one rule)."""
    from store.runs import read_run

    return _needs_prometheus(read_run(store, run_id))


def _needs_prometheus(view: RunView) -> bool:
    from upgrades.rundoc import RunPlan

    return RunPlan.parse(view.run.plan).needs_prometheus(view.run.kind)


class ResumedRun(NamedTuple):
    """A run made runnable again: the options to execute it with, and the run as read (once)
    before it was set running, whose steps say which clusters it needs."""

    options: ExecutorOptions
    view: RunView


def resume_run(
    store: Store, settings: Settings, run_id: int, prometheus: str | None, poll: str, lease_ttl: str
) -> ResumedRun:
    """Make a paused (or interrupted) run runnable again, and the options to execute it with.
    The CLI's ``upgrade resume`` and the dashboard's ``r`` both come here. The run is read once."""
    from store.runs import read_run, set_run

    view = read_run(store, run_id)
    if view.run.state not in ACTIVE_RUNS | {RunState.PAUSED}:
        raise BadInputError(
            f"run {run_id} is {view.run.state}", where="run", hint="only a paused or interrupted run resumes"
        )
    options = executor_options(settings, prometheus, poll, lease_ttl, need_prometheus=_needs_prometheus(view))
    set_run(store, run_id, state=RunState.RUNNING, message="", expect=[RunState.PAUSED, RunState.PAUSING])
    return ResumedRun(options, view)


class RunExecutor(Protocol):
    """What the dashboard calls, in a worker thread, to execute a run (a rollback), or to resume one."""

    def __call__(self, run_id: int, *, resume: bool = False) -> Outcome: ...


def executor_for(
    store: Store, settings: Settings, prometheus: str | None = None, interrupt: threading.Event | None = None
) -> RunExecutor:
    """The dashboard's ``RunExecutor``: resume goes through ``resume_run``, as the CLI's does.
    ``interrupt`` (the dashboard's, set on quit) stops the run at the next step boundary."""

    from store.runs import read_run

    def run(run_id: int, *, resume: bool = False) -> Outcome:
        if resume:
            options, view = resume_run(store, settings, run_id, prometheus, "1s", "30s")
        else:
            view = read_run(store, run_id)
            options = executor_options(settings, prometheus, "1s", "30s", need_prometheus=_needs_prometheus(view))
        options.progress = lambda _message: None  # the dashboard shows progress from the store
        if interrupt is not None:
            options.interrupt = interrupt
        return execute_run(store, settings, run_id, options, view=view)

    return run


def health_runner(settings: Settings, url: str | None, retain: Any = None) -> Callable[[Any, Any], Any]:
    """A function running one health round (and compaction, with ``retain``) for a cluster after its inventory."""
    from clients.prom import PromSource
    from collectors.health.collector import check_cluster
    from collectors.health.thresholds import thresholds_from

    thresholds = thresholds_from(settings.health, where=str(settings.config_path or "config"))
    warn_unknown_prom_contexts(settings)
    sources: dict[str, PromSource | None] = {}  # by context: each cluster reads its own Prometheus (or label)

    def source_for(cluster: str) -> PromSource | None:
        if cluster not in sources:
            prom = settings.prom_config(url, cluster=cluster)
            sources[cluster] = PromSource(prom, thresholds.rate_window) if prom else None
        return sources[cluster]

    def run(store: Any, client: Any) -> Any:
        result = check_cluster(store, client.name, prom=source_for(client.name), kube=client, thresholds=thresholds)
        if retain is not None:
            from datetime import UTC, datetime

            from store.retention import compact

            with store.write() as session:
                compact(session, before=datetime.now(UTC) - retain)
        return result

    return run
