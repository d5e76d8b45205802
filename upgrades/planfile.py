"""The upgrade plan file: YAML in, a validated ``PlanSpec`` out.

Every problem names the field (``spec.waves.sizes[2]``), says what is wrong and how to fix it,
and raises ``PlanError`` (exit 2). The schema is documented in docs/upgrades.md.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

from store.arch import normalize_arch
from store.durations import parse_duration
from store.errors import BadInputError, yaml_problem
from store.versions import KataVersion
from upgrades.analysis import CONDITION
from upgrades.plandoc import API_VERSION, KIND
from upgrades.window import Window, parse_exclusion, validate_window

ORDERS = ("zone-arch", "arch-zone")
DRAIN_POLICIES = ("fail", "skip", "wait-for-builds")
NO_DATA = ("fail", "pass", "inconclusive")
ON_BREACH = ("pause", "rollback")
MAX_PLAN_BYTES = 1_000_000
LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
E = TypeVar("E", bound=StrEnum)


class PlanError(BadInputError):
    """A plan file that cannot be used."""


Size = int | str  # a count, or a percentage such as "10%"


@dataclass(frozen=True)
class Selection:
    """Which nodes the plan is about."""

    clusters: tuple[str, ...] = ()
    label_selector: str | None = None
    arches: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    where: str | None = None
    pinned: str = "fleetctl.io/pinned=true"


@dataclass(frozen=True)
class Waves:
    """Wave sizes (the last repeats), ordering, and the unavailability budget."""

    sizes: tuple[Size, ...] = (1, "10%", "25%")
    order: str = "zone-arch"
    max_unavailable: Size = 1


class DrainMode(StrEnum):
    """``drain.mode``: evict the node's workload pods, or only cordon it (running Kata VMs keep
    their in-memory binaries, so an install does not need them gone)."""

    EVICT = "evict"
    NONE = "none"


class Mechanism(StrEnum):
    """``install.mechanism``: how a node gets a release. ``auto`` is detected from the cluster."""

    AUTO = "auto"
    DAEMONSET = "daemonset"  # kata-deploy's DaemonSet with updateStrategy OnDelete: its pod deleted per node
    JOB = "job"  # kata-deploy's deploymentMode job: one install Job per node, from the chart's job template
    LABEL = "label"  # a custom installer DaemonSet selected by a node label that fleetctl sets


class HelmPolicy(StrEnum):
    """``install.helm``: what to do when Helm manages kata-deploy."""

    RECONCILE_AFTER = "reconcile-after"  # go ahead; print the helm upgrade line that brings the release in line
    REFUSE = "refuse"


@dataclass(frozen=True)
class Drain:
    """How a node is drained, and what happens when that takes too long."""

    mode: DrainMode = DrainMode.EVICT
    timeout_s: float = 600.0
    grace_period_s: int | None = None
    on_timeout: str = "fail"
    build_selector: str = "app.kubernetes.io/managed-by=tekton-pipelines"
    build_wait_s: float = 7200.0
    disable_eviction: bool = False


@dataclass(frozen=True)
class Install:
    """How a release gets onto a node: kata-deploy's DaemonSet or job mode, or a label-gated installer."""

    daemonset: str = "kata-deploy"  # also the base of job mode's ConfigMap, <daemonSet>-job-templates
    namespace: str = "kube-system"
    mechanism: Mechanism = Mechanism.AUTO
    timeout_s: float = 900.0
    label: str = "fleetctl.io/kata-release"  # mechanism label: the node label fleetctl sets to the release
    helm: HelmPolicy = HelmPolicy.RECONCILE_AFTER

    @property
    def job_templates(self) -> str:
        """Job mode's ConfigMap of per-node Job templates, as the chart names it."""
        return f"{self.daemonset}-job-templates"[:63].rstrip("-")


@dataclass(frozen=True)
class Smoke:
    """A pod per arch that must run to completion on the upgraded node."""

    runtime_class: dict[str, str]
    image: str = "quay.io/prometheus/busybox:latest"
    namespace: str = "default"
    timeout_s: float = 120.0


@dataclass(frozen=True)
class Verify:
    """What an upgraded node must show before it is uncordoned."""

    handlers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    smoke: Smoke | None = None


@dataclass(frozen=True)
class Check:
    """One PromQL analysis, in the manner of Argo Rollouts."""

    name: str
    query: str
    success: str | None = None
    failure: str | None = None
    interval_s: float = 30.0
    count: int = 1
    failure_limit: int = 0
    consecutive_error_limit: int = 2
    no_data: str = "fail"


@dataclass(frozen=True)
class Gates:
    """Between waves: a soak, then the checks."""

    enabled: bool = True
    soak_s: float = 300.0
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True)
class Budget:
    """How many node failures a wave and the run may have before ``on_breach``."""

    per_wave: Size = 0
    per_run: Size = 0
    on_breach: str = "pause"


@dataclass(frozen=True)
class Safety:
    """When to refuse to start."""

    min_healthy_percent: float = 90.0


@dataclass(frozen=True)
class PlanSpec:
    """A validated plan file."""

    name: str
    target: str
    allow_downgrade: bool = False
    selection: Selection = field(default_factory=Selection)
    waves: Waves = field(default_factory=Waves)
    drain: Drain = field(default_factory=Drain)
    install: Install = field(default_factory=Install)
    verify: Verify = field(default_factory=Verify)
    gates: Gates = field(default_factory=Gates)
    budget: Budget = field(default_factory=Budget)
    window: Window | None = None
    safety: Safety = field(default_factory=Safety)
    node_seconds: float = 180.0  # the estimate of one node's drain+install+verify, when history has none
    source: dict[str, Any] = field(default_factory=dict, compare=False)  # the document as written


def load_plan(path: str | Path) -> PlanSpec:
    """Read and validate a plan file."""
    p = Path(path)
    where = str(p)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PlanError(f"cannot read the plan: {exc.strerror}", where=where, hint="check the path") from None
    if len(raw) > MAX_PLAN_BYTES:
        raise PlanError("the plan is larger than 1 MB", where=where, hint="a plan is a short YAML document")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PlanError("the plan is not UTF-8 text", where=where, hint="save it as UTF-8 YAML") from None
    try:
        data = yaml.load(text, Loader=_PlanLoader)  # a SafeLoader that keeps dates as text
    except yaml.YAMLError as exc:
        problem, at = yaml_problem(exc, where)
        raise PlanError(f"not valid YAML: {problem}", where=at, hint="check indentation and quoting") from None
    except RecursionError:
        raise PlanError("the YAML is nested too deeply", where=where, hint="a plan is a short document") from None
    try:
        return parse_plan(data, where=where)
    except PlanError as exc:
        exc.where = _line_and_column(exc.where, where, text)
        raise


def _line_and_column(at: str | None, file: str, text: str) -> str | None:
    """``FILE.spec.waves.x`` as ``FILE:LINE:COL: spec.waves.x``, the line and column of that key
    (or of the nearest of its parents the file has)."""
    if not at or not at.startswith(f"{file}."):
        return at
    dotted = at[len(file) + 1 :]
    node: yaml.Node | None = yaml.compose(text, Loader=_PlanLoader)
    mark = None
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", dotted):
        if isinstance(node, yaml.MappingNode) and name:
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == name), None)
            if pair is None:
                break
            mark, node = pair[0].start_mark, pair[1]
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            mark = node.start_mark
        else:
            break
    return f"{file}:{mark.line + 1}:{mark.column + 1}: {dotted}" if mark else at


class _PlanLoader(yaml.SafeLoader):
    """YAML's safe loader, but ``2026-12-24`` stays the text it was: a plan is stored as JSON."""


_PlanLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_plan(data: Any, *, where: str = "plan") -> PlanSpec:
    """Validate a decoded plan document."""
    doc = _Reader(data, where)
    doc.keys({"apiVersion", "kind", "metadata", "spec"})
    if doc.get("apiVersion", str, API_VERSION) != API_VERSION:
        doc.fail("apiVersion", f"must be {API_VERSION}", f"write apiVersion: {API_VERSION}")
    if doc.get("kind", str, KIND) != KIND:
        doc.fail("kind", f"must be {KIND}", f"write kind: {KIND}")
    meta = doc.child("metadata", required=True)
    meta.keys({"name"})
    name = meta.get("name", str)
    if not name or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name):
        meta.fail("name", "must be a DNS-style name (lower case, digits, - and .)", "e.g. kata-4-1-rollout")
    spec = doc.child("spec", required=True)
    spec.keys(
        {"target", "allowDowngrade", "selector", "waves", "drain", "install", "verify", "gates"}
        | {"failureBudget", "window", "safety", "estimate"}
    )
    target = spec.get("target", str)
    if not target:
        spec.fail("target", "is required", "e.g. target: 4.1.0")
    try:
        version = KataVersion.parse(target)
    except BadInputError:
        spec.fail("target", f"{target!r} is not a Kata release", "write it like 4.1.0")
    estimate = spec.child("estimate")
    estimate.keys({"nodeDuration"})
    return PlanSpec(
        name=name,
        target=str(version),
        allow_downgrade=spec.get("allowDowngrade", bool, False),
        selection=_selection(spec.child("selector")),
        waves=_waves(spec.child("waves")),
        drain=_drain(spec.child("drain")),
        install=_install(spec.child("install")),
        verify=_verify(spec.child("verify")),
        gates=_gates(spec.child("gates")),
        budget=_budget(spec.child("failureBudget")),
        window=_window(spec.child("window")) if spec.has("window") else None,
        safety=_safety(spec.child("safety")),
        node_seconds=estimate.duration("nodeDuration", 180.0),
        source=data,
    )


def _selection(r: _Reader) -> Selection:
    r.keys({"clusters", "labelSelector", "arch", "zones", "where", "pinned"})
    arches = []
    for i, a in enumerate(r.strings("arch")):
        try:
            arches.append(str(normalize_arch(a)))
        except BadInputError:
            r.fail(f"arch[{i}]", f"unknown arch {a!r}", "use amd64, arm64, ppc64le or s390x")
    return Selection(
        clusters=r.strings("clusters"),
        label_selector=r.get("labelSelector", str, None),
        arches=tuple(arches),
        zones=r.strings("zones"),
        where=r.get("where", str, None),
        pinned=r.get("pinned", str, Selection.pinned),
    )


def _waves(r: _Reader) -> Waves:
    r.keys({"sizes", "order", "maxUnavailable"})
    sizes = r.value("sizes", list, list(Waves.sizes))
    if not sizes:
        r.fail("sizes", "must list at least one size", 'e.g. sizes: [1, 5, "10%"]')
    order = r.get("order", str, Waves.order)
    if order not in ORDERS:
        r.fail("order", f"must be one of {', '.join(ORDERS)}, not {order!r}", "zone-arch rolls zone by zone")
    return Waves(
        sizes=tuple(r.size(f"sizes[{i}]", s, minimum=1) for i, s in enumerate(sizes)),
        order=order,
        max_unavailable=r.size("maxUnavailable", r.value("maxUnavailable", (int, str), 1), minimum=1),
    )


def _drain(r: _Reader) -> Drain:
    r.keys({"mode", "timeout", "gracePeriod", "onTimeout", "buildSelector", "buildWaitLimit", "disableEviction"})
    mode = _choice(r, "mode", DrainMode, DrainMode.EVICT, "none cordons without evicting: running Kata pods keep going")
    policy = r.get("onTimeout", str, "fail")
    if policy not in DRAIN_POLICIES:
        r.fail("onTimeout", f"must be one of {', '.join(DRAIN_POLICIES)}, not {policy!r}", "the default is fail")
    grace = r.duration("gracePeriod", -1.0)
    return Drain(
        mode=mode,
        timeout_s=r.duration("timeout", Drain.timeout_s),
        grace_period_s=None if grace < 0 else int(grace),
        on_timeout=policy,
        build_selector=r.get("buildSelector", str, Drain.build_selector),
        build_wait_s=r.duration("buildWaitLimit", Drain.build_wait_s),
        disable_eviction=r.get("disableEviction", bool, False),
    )


def _install(r: _Reader) -> Install:
    r.keys({"daemonSet", "namespace", "mechanism", "timeout", "label", "helm"})
    raw = r.get("mechanism", str, Mechanism.AUTO.value)
    if raw == "OnDelete":  # the first releases' only value: the same thing
        raw = Mechanism.DAEMONSET.value
    if raw not in {m.value for m in Mechanism}:
        r.fail("mechanism", f"must be one of {', '.join(m.value for m in Mechanism)}, not {raw!r}",
               "auto finds kata-deploy's DaemonSet (updateStrategy OnDelete) or its job mode on each cluster")  # fmt: skip
    label = r.get("label", str, Install.label)
    if not LABEL_KEY.fullmatch(label):
        r.fail("label", f"{label!r} is not a label key", "a key looks like fleetctl.io/kata-release")
    return Install(
        daemonset=r.get("daemonSet", str, Install.daemonset),
        namespace=r.get("namespace", str, Install.namespace),
        mechanism=Mechanism(raw),
        timeout_s=r.duration("timeout", Install.timeout_s),
        label=label,
        helm=_choice(r, "helm", HelmPolicy, HelmPolicy.RECONCILE_AFTER, "refuse stops before touching a Helm release"),
    )


def _choice(r: _Reader, key: str, kind: type[E], default: E, hint: str) -> E:
    raw = r.get(key, str, default.value)
    if raw not in {m.value for m in kind}:
        r.fail(key, f"must be one of {', '.join(m.value for m in kind)}, not {raw!r}", hint)
    return kind(raw)


def _per_arch(r: _Reader, key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arch, value in r.value(key, dict, {}).items():
        try:
            out[str(normalize_arch(str(arch)))] = value
        except BadInputError:
            r.fail(f"{key}.{arch}", f"unknown arch {arch!r}", "use amd64, arm64, ppc64le or s390x")
    return out


def _verify(r: _Reader) -> Verify:
    r.keys({"handlers", "smoke"})
    handlers = {}
    for arch, names in _per_arch(r, "handlers").items():
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            r.fail(f"handlers.{arch}", "must be a list of handler names", "e.g. handlers: {s390x: [kata-qemu]}")
        handlers[arch] = tuple(names)
    smoke = None
    if r.has("smoke"):
        s = r.child("smoke")
        s.keys({"runtimeClass", "image", "namespace", "timeout"})
        classes = _per_arch(s, "runtimeClass")
        if not classes or not all(isinstance(v, str) and v for v in classes.values()):
            s.fail("runtimeClass", "must map each arch to a RuntimeClass", "e.g. runtimeClass: {amd64: kata-qemu}")
        smoke = Smoke(
            runtime_class=classes,
            image=s.get("image", str, Smoke.image),
            namespace=s.get("namespace", str, Smoke.namespace),
            timeout_s=s.duration("timeout", Smoke.timeout_s),
        )
    return Verify(handlers=handlers, smoke=smoke)


def _gates(r: _Reader) -> Gates:
    r.keys({"enabled", "soak", "checks"})
    checks = []
    names: set[str] = set()
    for i, item in enumerate(r.value("checks", list, [])):
        c = _Reader(item, f"{r.path}.checks[{i}]")
        c.keys({"name", "query", "successCondition", "failureCondition", "interval", "count"} | _LIMITS)
        name = c.get("name", str)
        if not name or name in names:
            c.fail("name", "must be set and unique", "give each check its own name")
        names.add(name)
        query = c.get("query", str)
        if not query.strip():
            c.fail("query", "is required", "a PromQL expression returning one value per series")
        success, failure = c.get("successCondition", str, None), c.get("failureCondition", str, None)
        if success is None and failure is None:
            c.fail("successCondition", "a check needs a successCondition or a failureCondition", "e.g. value < 0.5")
        for key, cond in (("successCondition", success), ("failureCondition", failure)):
            if cond is not None and not CONDITION.match(cond):
                c.fail(key, f"{cond!r} is not a condition", "write: value < 0.5 (ops: < <= > >= == !=)")
        no_data = c.get("noData", str, "fail")
        if no_data not in NO_DATA:
            c.fail("noData", f"must be one of {', '.join(NO_DATA)}, not {no_data!r}", "the default, fail, is safe")
        checks.append(
            Check(
                name=name,
                query=query,
                success=success,
                failure=failure,
                interval_s=c.duration("interval", 30.0),
                count=c.integer("count", 1, minimum=1),
                failure_limit=c.integer("failureLimit", 0, minimum=0),
                consecutive_error_limit=c.integer("consecutiveErrorLimit", 2, minimum=0),
                no_data=no_data,
            )
        )
    return Gates(enabled=r.get("enabled", bool, True), soak_s=r.duration("soak", Gates.soak_s), checks=tuple(checks))


_LIMITS = {"failureLimit", "consecutiveErrorLimit", "noData"}


def _budget(r: _Reader) -> Budget:
    r.keys({"perWave", "perRun", "onBreach"})
    on_breach = r.get("onBreach", str, "pause")
    if on_breach not in ON_BREACH:
        r.fail("onBreach", f"must be pause or rollback, not {on_breach!r}", "pause lets a person decide")
    return Budget(
        per_wave=r.size("perWave", r.value("perWave", (int, str), 0), minimum=0),
        per_run=r.size("perRun", r.value("perRun", (int, str), 0), minimum=0),
        on_breach=on_breach,
    )


def _window(r: _Reader) -> Window:

    r.keys({"schedule", "duration", "timezone", "exclude"})
    exclude = []
    for i, item in enumerate(r.value("exclude", list, [])):
        try:
            exclude.append(parse_exclusion(str(item)))
        except ValueError as exc:
            r.fail(f"exclude[{i}]", str(exc), "e.g. exclude: [2026-12-24..2026-12-26]")
    window = Window(
        schedule=r.get("schedule", str),
        duration_s=r.duration("duration", 0.0),
        timezone=r.get("timezone", str, "UTC"),
        exclude=tuple(exclude),
    )
    problem = validate_window(window)
    if problem:
        field_name, message, hint = problem
        r.fail(field_name, message, hint)
    return window


def _safety(r: _Reader) -> Safety:
    r.keys({"minHealthyPercent"})
    value = r.value("minHealthyPercent", (int, float), 90.0)
    if not 0 <= value <= 100:
        r.fail("minHealthyPercent", "must be between 0 and 100", "e.g. minHealthyPercent: 90")
    return Safety(min_healthy_percent=float(value))


class _Reader:
    """One mapping of the document, with the path to it for error messages."""

    def __init__(self, data: Any, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise PlanError(f"must be a mapping, not {type(data).__name__}", where=path, hint="see docs/upgrades.md")
        self.data, self.path = data, path

    def fail(self, key: str, message: str, hint: str) -> NoReturn:
        raise PlanError(message, where=f"{self.path}.{key}", hint=hint)

    def keys(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                fields = ", ".join(sorted(allowed))
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                guess = f"; did you mean {close[0]!r}?" if close else ""
                raise PlanError(
                    f"unknown field {key!r}{guess}", where=f"{self.path}.{key}", hint=f"fields here: {fields}"
                )

    def has(self, key: str) -> bool:
        return key in self.data

    def child(self, key: str, *, required: bool = False) -> _Reader:
        if required and key not in self.data:
            self.fail(key, "is required", "see docs/upgrades.md for a complete example")
        return _Reader(self.data.get(key), f"{self.path}.{key}")

    def value(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = self.data.get(key, default)
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.fail(key, "must not be true/false", "write a number or text")
        if not isinstance(value, kind):
            names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            self.fail(key, f"must be {names}, not {type(value).__name__}", "see docs/upgrades.md")
        return value

    def get(self, key: str, kind: type, default: Any = ...) -> Any:
        if default is ... and key not in self.data:
            self.fail(key, "is required", "see docs/upgrades.md")
        value = self.data.get(key, None if default is ... else default)
        if value is None and default is None:
            return None
        return self.value(key, kind, value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(key, "must be a list of names", f"e.g. {key}: [a, b]")
        return tuple(value)

    def integer(self, key: str, default: int, *, minimum: int) -> int:
        value = self.value(key, int, default)
        if value < minimum:
            self.fail(key, f"must be {minimum} or more", f"e.g. {key}: {max(minimum, 1)}")
        return int(value)

    def duration(self, key: str, default: float) -> float:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.fail(key, "must be a duration such as 30s, 10m or 2h", "e.g. 10m")
        try:
            return parse_duration(str(value) if isinstance(value, str) else f"{value}s", where=key).total_seconds()
        except BadInputError as exc:
            raise PlanError(exc.message, where=f"{self.path}.{key}", hint="write it like 30s, 10m or 2h") from None

    def size(self, key: str, value: Any, *, minimum: int) -> Size:
        if isinstance(value, bool):
            self.fail(key, "must be a count or a percentage", 'e.g. 5 or "10%"')
        if isinstance(value, int):
            if value < minimum:
                self.fail(key, f"must be {minimum} or more", 'e.g. 5 or "10%"')
            return value
        if isinstance(value, str):
            m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*", value)
            if (m and 0 < float(m.group(1)) <= 100) or (m and minimum == 0 and float(m.group(1)) == 0):
                return f"{m.group(1)}%"
            self.fail(key, f"{value!r} is not a percentage between 0 and 100", 'write it like "10%"')
        self.fail(key, f"must be a count or a percentage, not {type(value).__name__}", 'e.g. 5 or "10%"')


def resolve_size(size: Size, total: int, *, minimum: int = 1, round_up: bool = True) -> int:
    """A count as is; a percentage of ``total`` (rounded up, or down for budgets), at least ``minimum``."""
    if isinstance(size, int):
        return size
    exact = float(size.rstrip("%")) * total / 100
    count = math.ceil(exact - 1e-9) if round_up else math.floor(exact + 1e-9)
    return max(minimum, count)
