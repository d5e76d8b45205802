"""Faults on demand: from a scenario file at start, or live through ``/_sim/faults``.

A scenario file is YAML (or JSON) with one top-level key, ``faults``; docs/simulator.md has the
schema. An invalid file is refused with the file, the field and what is expected, and the
simulator does not start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

ARCHES = ("amd64", "arm64", "ppc64le", "s390x")


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the place and the fix."""


@dataclass
class InstallFailure:
    """Installs of ``release`` (or any, None) on ``arch`` (or any, None) fail with probability ``rate``."""

    rate: float
    arch: str | None = None
    release: str | None = None


@dataclass
class HealthRegression:
    """Nodes of ``arch`` running ``release`` get slower shim RPCs and failing kata-monitor scrapes."""

    release: str
    arch: str | None = None
    rpcLatencyFactor: float = 10.0
    scrapeFailures: bool = True


@dataclass
class ApiFaults:
    """Kubernetes API misbehaviour."""

    errorRate: float = 0.0
    latencyMs: float = 0.0
    dropWatchesAfterSeconds: float = 0.0
    forbidden: list[str] = field(default_factory=list)  # resources (plural: peerpods) answered 403, as RBAC would


@dataclass
class Faults:
    """Every fault the simulator can inject. The defaults inject none."""

    installFailures: list[InstallFailure] = field(default_factory=list)
    installDelaySeconds: dict[str, float] = field(
        default_factory=lambda: {"amd64": 30.0, "s390x": 60.0, "ppc64le": 45.0, "arm64": 30.0}
    )
    healthRegressions: list[HealthRegression] = field(default_factory=list)
    notReadyNodes: list[str] = field(default_factory=list)
    kataMonitorMissing: list[str] = field(default_factory=list)
    kataMonitorDown: list[str] = field(default_factory=list)
    kataMonitorBlind: list[str] = field(default_factory=list)  # sees no sandbox (runtime-rs before 4.1, #12666)
    blockingPdbApps: list[str] = field(default_factory=list)
    api: ApiFaults = field(default_factory=ApiFaults)

    def to_dict(self) -> dict[str, Any]:
        """The scenario form (what ``/_sim/faults`` returns)."""
        return asdict(self)

    def install_failure_rate(self, arch: str, release: str) -> float:
        """The highest failure rate that applies to an install of ``release`` on ``arch``."""
        rates = [f.rate for f in self.installFailures if f.arch in (None, arch) and f.release in (None, release)]
        return max(rates, default=0.0)

    def regression_for(self, arch: str, release: str | None) -> HealthRegression | None:
        """The health regression that applies to a node, if any."""
        for r in self.healthRegressions:
            if r.release == release and r.arch in (None, arch):
                return r
        return None


def load_scenario(path: str | Path) -> Faults:
    """Read and validate a scenario file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot be read: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{p}: not valid YAML or JSON: {exc}") from None
    if not isinstance(data, Mapping) or set(data) - {"faults"}:
        raise ScenarioError(f"{p}: expected a mapping with one key, 'faults' (see docs/simulator.md)")
    return parse_faults(data.get("faults") or {}, where=f"{p}: faults")


def parse_faults(data: Any, *, where: str = "faults", base: Faults | None = None) -> Faults:
    """Validate a ``faults`` mapping; fields not given keep ``base``'s values (or the defaults)."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {_type(data)}")
    out = base if base is not None else Faults()
    known = set(Faults.__dataclass_fields__)
    for key, value in data.items():
        at = f"{where}.{key}"
        if key not in known:
            raise ScenarioError(f"{at}: unknown field; expected one of {', '.join(sorted(known))}")
        if key == "installFailures":
            out.installFailures = [_install_failure(v, f"{at}[{i}]") for i, v in enumerate(_list(value, at))]
        elif key == "installDelaySeconds":
            out.installDelaySeconds = {**out.installDelaySeconds, **_arch_numbers(value, at)}
        elif key == "healthRegressions":
            out.healthRegressions = [_regression(v, f"{at}[{i}]") for i, v in enumerate(_list(value, at))]
        elif key in ("notReadyNodes", "kataMonitorMissing", "kataMonitorDown", "kataMonitorBlind", "blockingPdbApps"):
            setattr(out, key, [_str(v, f"{at}[{i}]") for i, v in enumerate(_list(value, at))])
        elif key == "api":
            out.api = _api(value, at, out.api)
    return out


def _install_failure(v: Any, at: str) -> InstallFailure:
    m = _mapping(v, at, {"rate", "arch", "release"})
    return InstallFailure(
        rate=_fraction(m.get("rate"), f"{at}.rate"),
        arch=_arch(m.get("arch"), f"{at}.arch"),
        release=_opt_str(m.get("release"), f"{at}.release"),
    )


def _regression(v: Any, at: str) -> HealthRegression:
    m = _mapping(v, at, {"release", "arch", "rpcLatencyFactor", "scrapeFailures"})
    if "release" not in m:
        raise ScenarioError(f"{at}.release: required; the Kata release after which health regresses, such as 4.1.0")
    factor = m.get("rpcLatencyFactor", 10.0)
    if not isinstance(factor, int | float) or isinstance(factor, bool) or factor < 1:
        raise ScenarioError(f"{at}.rpcLatencyFactor: expected a number >= 1, got {factor!r}")
    failures = m.get("scrapeFailures", True)
    if not isinstance(failures, bool):
        raise ScenarioError(f"{at}.scrapeFailures: expected true or false, got {failures!r}")
    return HealthRegression(
        _str(m["release"], f"{at}.release"), _arch(m.get("arch"), f"{at}.arch"), float(factor), failures
    )


def _api(v: Any, at: str, base: ApiFaults) -> ApiFaults:
    m = _mapping(v, at, {"errorRate", "latencyMs", "dropWatchesAfterSeconds", "forbidden"})
    forbidden = m.get("forbidden", base.forbidden)
    return ApiFaults(
        errorRate=_fraction(m.get("errorRate", base.errorRate), f"{at}.errorRate"),
        latencyMs=_non_negative(m.get("latencyMs", base.latencyMs), f"{at}.latencyMs"),
        dropWatchesAfterSeconds=_non_negative(
            m.get("dropWatchesAfterSeconds", base.dropWatchesAfterSeconds), f"{at}.dropWatchesAfterSeconds"
        ),
        forbidden=[_str(r, f"{at}.forbidden[{i}]") for i, r in enumerate(_list(forbidden, f"{at}.forbidden"))],
    )


def _arch_numbers(v: Any, at: str) -> dict[str, float]:
    m = _mapping(v, at, set(ARCHES))
    return {k: _non_negative(val, f"{at}.{k}") for k, val in m.items()}


def _mapping(v: Any, at: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise ScenarioError(f"{at}: expected a mapping, got {_type(v)}")
    unknown = sorted(set(v) - allowed)
    if unknown:
        raise ScenarioError(f"{at}.{unknown[0]}: unknown field; expected one of {', '.join(sorted(allowed))}")
    return v


def _list(v: Any, at: str) -> list[Any]:
    if not isinstance(v, list):
        raise ScenarioError(f"{at}: expected a list, got {_type(v)}")
    return v


def _str(v: Any, at: str) -> str:
    if not isinstance(v, str) or not v:
        raise ScenarioError(f"{at}: expected a non-empty string, got {_type(v)}")
    return v


def _opt_str(v: Any, at: str) -> str | None:
    return None if v is None else _str(v, at)


def _arch(v: Any, at: str) -> str | None:
    if v is None:
        return None
    if v not in ARCHES:
        raise ScenarioError(f"{at}: expected one of {', '.join(ARCHES)}, got {v!r}")
    return str(v)


def _fraction(v: Any, at: str) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= 1:
        raise ScenarioError(f"{at}: expected a number between 0 and 1, got {v!r}")
    return float(v)


def _non_negative(v: Any, at: str) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
        raise ScenarioError(f"{at}: expected a number >= 0, got {v!r}")
    return float(v)


def _type(v: Any) -> str:
    return "nothing" if v is None else f"{type(v).__name__} {v!r}"[:60]
