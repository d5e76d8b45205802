"""Which Kata release runs on a node, decided from several signals; disagreement is drift.

No single signal can be trusted (kata-facts.md: a tarball once reported the previous release,
an image was once mistagged, a failed install leaves the label claimed). The reporter's
``kata-runtime env`` (or, on a node without it, ``kata-ctl env`` or the shim's ``--version``) wins,
then ``/opt/kata/VERSION``, then the kata-deploy pod's image tag. Every disagreement becomes a
drift reason a person can read, naming the program that said it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from collectors.reporter import has_go_runtime, reporting_binary
from store.versions import KataVersion


@dataclass(frozen=True)
class Signals:
    """What a node says about its Kata installation."""

    arch: str | None
    env_version: str | None
    version_file: str | None
    deploy_version: str | None  # image tag of the node's kata-deploy pod
    deploy_state: str | None  # "Running", "CrashLoopBackOff", ...; None when there is no pod
    label: str | None  # katacontainers.io/kata-runtime
    handlers: tuple[str, ...]
    env_source: str | None = None  # the reporter's source (collectors.reporter.SOURCES); None: kata-runtime env


@dataclass(frozen=True)
class Resolution:
    """The release a node runs, if it can be told, and every reason to doubt it."""

    version: str | None
    sort_key: str | None
    drift: tuple[str, ...]


def expected_handlers(version: KataVersion, arch: str | None, *, go_shim: bool = True) -> list[str]:
    """Handlers every kata-deploy install of ``version`` sets up on ``arch`` (kata-facts.md). From 4.1.0 a
    node without the Go shim (``kata-go-static``) is runtime-rs only: no ``kata-qemu`` is expected there."""
    from_4_1 = (version.major, version.minor) >= (4, 1)
    handlers = ["kata-qemu"] if go_shim or not from_4_1 else []
    if arch != "ppc64le" or from_4_1:
        handlers.append("kata-qemu-runtime-rs")
    return handlers


def resolve(s: Signals) -> Resolution:
    """Resolve the node's release and list the drift between its signals."""
    drift: list[str] = []
    who = reporting_binary(s.env_source)
    env, file, deploy = (
        KataVersion.try_parse(s.env_version),
        KataVersion.try_parse(s.version_file),
        KataVersion.try_parse(s.deploy_version),
    )
    for raw, parsed, what in (
        (s.env_version, env, who),
        (s.version_file, file, "/opt/kata/VERSION"),
        (s.deploy_version, deploy, "the kata-deploy image tag"),
    ):
        if raw and parsed is None:
            drift.append(f"{what} reports {raw[:40]!r}, which is not a Kata version")
    version = env or file or deploy
    if env is None and file is None:
        drift.append("no reporter data")
    if env and file and env != file:
        drift.append(f"{who} reports {env} but /opt/kata/VERSION says {file}")
    if deploy and version and deploy != version:
        drift.append(f"kata-deploy pod is {deploy} but the node reports {version}")
    if s.deploy_state is None:
        drift.append("no kata-deploy pod on the node")
    elif s.deploy_state != "Running":
        drift.append(f"kata-deploy pod is {s.deploy_state}")
    if s.label is None:
        drift.append("label katacontainers.io/kata-runtime is missing")
    elif s.label != "true":
        drift.append(f"label katacontainers.io/kata-runtime is {s.label}")
    if version is not None:
        have = set(s.handlers)
        go_shim = has_go_runtime(s.env_source)
        drift += [f"handler {h} missing" for h in expected_handlers(version, s.arch, go_shim=go_shim) if h not in have]
    return Resolution(str(version) if version else None, version.sort_key() if version else None, tuple(drift))


class DriftKind(StrEnum):
    """What kind of disagreement a drift reason is: a bounded label for metrics and grouping."""

    NOT_A_VERSION = "not_a_version"
    NO_REPORTER = "no_reporter"
    REPORTER_DISAGREES = "reporter_disagrees"
    DEPLOY_DISAGREES = "deploy_disagrees"
    NO_DEPLOY_POD = "no_deploy_pod"
    DEPLOY_POD_NOT_READY = "deploy_pod_not_ready"
    LABEL_MISSING = "label_missing"
    LABEL_WRONG = "label_wrong"
    HANDLER_MISSING = "handler_missing"
    OTHER = "other"


def drift_kind(reason: str) -> DriftKind:
    """The kind of one of ``resolve``'s drift reasons (``OTHER`` for a text it does not write)."""
    if reason.endswith("which is not a Kata version"):
        return DriftKind.NOT_A_VERSION
    if reason == "no reporter data":
        return DriftKind.NO_REPORTER
    if " reports " in reason and " but /opt/kata/VERSION says " in reason:  # kata-runtime, kata-ctl or the shim
        return DriftKind.REPORTER_DISAGREES
    if reason == "no kata-deploy pod on the node":
        return DriftKind.NO_DEPLOY_POD
    if reason.startswith("kata-deploy pod is "):
        return DriftKind.DEPLOY_DISAGREES if " but the node reports " in reason else DriftKind.DEPLOY_POD_NOT_READY
    if reason == "label katacontainers.io/kata-runtime is missing":
        return DriftKind.LABEL_MISSING
    if reason.startswith("label katacontainers.io/kata-runtime is "):
        return DriftKind.LABEL_WRONG
    if reason.startswith("handler ") and reason.endswith(" missing"):
        return DriftKind.HANDLER_MISSING
    return DriftKind.OTHER
