"""The config file: defaults for the global options, in TOML.

Looked up at ``--config``, then ``$FLEETCTL_CONFIG``, then
``$XDG_CONFIG_HOME/fleetctl/config.toml`` (``~/.config/fleetctl/config.toml``). A missing
default file is fine; a file that was named explicitly must exist. Every field is in
docs/configuration.md; an unknown field is an error, so a typo never silently does nothing.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.errors import ConfigError

OUTPUT_FORMATS = ("table", "wide", "json", "yaml", "csv", "name")


@dataclass(frozen=True)
class FileConfig:
    """What the config file sets. ``None`` means not set."""

    path: Path | None = None
    db: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    output: str | None = None
    collect_interval: str | None = None
    collect_parallel: int | None = None
    prometheus: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    selectors: dict[str, Any] = field(default_factory=dict)


_FIELDS: dict[str, type] = {
    "db": str,
    "kubeconfig": str,
    "context": str,
    "output": str,
    "collect_interval": str,
    "collect_parallel": int,
    "prometheus": dict,
    "health": dict,
    "metrics": dict,
    "selectors": dict,
}
_PROMETHEUS_FIELDS: dict[str, type | tuple[type, ...]] = {
    "url": str,
    "job": str,
    "node_label": str,
    "timeout_s": (int, float),
    "cluster_label": str,
    "contexts": dict,
}
_PROMETHEUS_CONTEXT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "url": str,
    "job": str,
    "node_label": str,
    "timeout_s": (int, float),
    "cluster_label": str,
    "cluster": str,
}
_METRICS_FIELDS: dict[str, type | tuple[type, ...]] = {"per_node": bool}
_SELECTOR_FIELDS: dict[str, type | tuple[type, ...]] = {
    "kata_deploy": str,
    "cloud_api_adaptor": str,
    "kata_monitor": list,
}


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/fleetctl/config.toml``, or ``~/.config/fleetctl/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fleetctl" / "config.toml"


def load_config(explicit: str | None = None) -> FileConfig:
    """Read the config file; ``explicit`` is ``--config`` (or ``$FLEETCTL_CONFIG``)."""
    named = explicit or os.environ.get("FLEETCTL_CONFIG") or None
    path = Path(named).expanduser() if named else default_config_path()
    if not path.exists():
        if named:
            raise ConfigError(
                "file not found", where=str(path), hint="fix --config / FLEETCTL_CONFIG, or create the file"
            )
        return FileConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path), hint="see docs/configuration.md") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot be read: {exc}", where=str(path)) from None
    return _validate(path, data)


def _check_table(path: Path, table: str, values: dict[str, Any], fields: dict[str, type | tuple[type, ...]]) -> None:
    """Every key of ``[table]`` is known and of its type (a bool is not a number)."""
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(
                f"unknown field '{table}.{key}'", where=str(path), hint=f"known: {', '.join(sorted(fields))}"
            )
        expected = fields[key]
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise ConfigError(
                f"field '{table}.{key}' has the wrong type", where=str(path), hint="see docs/configuration.md"
            )


def _check_prometheus(path: Path, values: dict[str, Any]) -> None:
    """``[prometheus]`` and its ``[prometheus.contexts.<name>]`` tables: known keys of their types,
    label names Prometheus accepts, a positive timeout, and a URL that is http(s)."""
    import re

    _check_table(path, "prometheus", values, _PROMETHEUS_FIELDS)
    tables = {"prometheus": values}
    for name, table in (values.get("contexts") or {}).items():
        where = f"prometheus.contexts.{name}"
        if not isinstance(table, dict):
            raise ConfigError(
                f"field '{where}' must be a table", where=str(path), hint=f'write it as [{where}] with url = "..."'
            )
        _check_table(path, where, table, _PROMETHEUS_CONTEXT_FIELDS)
        tables[where] = table
    for where, table in tables.items():
        for key in ("cluster_label", "node_label", "job"):
            value = table.get(key)
            if key == "cluster_label" and value == "":
                continue  # no label here (a context turning the top level's off)
            if key != "job" and value is not None and not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", value):
                raise ConfigError(
                    f"field '{where}.{key}' is {value!r}, not a Prometheus label name",
                    where=str(path),
                    hint="letters, digits and _, not starting with a digit",
                )
        label = table.get("cluster_label")
        if label is not None and label in ("job", table.get("node_label") or values.get("node_label") or "node"):
            raise ConfigError(
                f"field '{where}.cluster_label' is {label!r}, a label fleetctl's health queries already match on",
                where=str(path),
                hint='name the label that tells clusters apart, e.g. cluster_label = "cluster"',
            )
        timeout = table.get("timeout_s")
        if timeout is not None and timeout <= 0:
            raise ConfigError(f"field '{where}.timeout_s' is {timeout!r}", where=str(path), hint="seconds, above 0")
        url = table.get("url")
        if url is not None and not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"field '{where}.url' is {url!r}", where=str(path), hint='an http(s) URL, e.g. "http://prometheus:9090"'
            )


def _check_selectors(path: Path, values: dict[str, Any]) -> None:
    """``[selectors]``: label selectors the API server would accept (``kata_monitor`` is a list of them)."""
    from clients.kube.selectors import label_selector_problem

    _check_table(path, "selectors", values, _SELECTOR_FIELDS)
    for key, value in values.items():
        for i, selector in enumerate(value if isinstance(value, list) else [value]):
            name = f"selectors.{key}" + (f"[{i}]" if isinstance(value, list) else "")
            problem = label_selector_problem(selector) if isinstance(selector, str) else "it is not a string"
            if problem:
                raise ConfigError(
                    f"field '{name}' is not a label selector: {problem}",
                    where=str(path),
                    hint='write it as kubectl -l takes it, e.g. kata_deploy = "name=kata-deploy"',
                )
        if isinstance(value, list) and not value:
            raise ConfigError(
                "field 'selectors.kata_monitor' is empty",
                where=str(path),
                hint='name at least one, e.g. kata_monitor = ["app.kubernetes.io/name=kata-monitor"]',
            )


def _validate(path: Path, data: dict[str, Any]) -> FileConfig:
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _FIELDS:
            close = difflib.get_close_matches(key, _FIELDS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(sorted(_FIELDS))}"
            raise ConfigError(f"unknown field {key!r}", where=str(path), hint=hint + " (docs/configuration.md)")
        if not isinstance(value, _FIELDS[key]):
            kind = "table" if _FIELDS[key] is dict else _FIELDS[key].__name__
            raise ConfigError(
                f"field {key!r} must be a {kind}, not {type(value).__name__}",
                where=str(path),
                hint=f"write it as [{key}]" if kind == "table" else f'write it as {key} = "..."',
            )
        values[key] = value
    _check_prometheus(path, values.get("prometheus") or {})
    _check_table(path, "metrics", values.get("metrics") or {}, _METRICS_FIELDS)
    _check_selectors(path, values.get("selectors") or {})
    if values.get("health"):
        from collectors.health.thresholds import thresholds_from

        thresholds_from(values["health"], where=str(path))
    parallel = values.get("collect_parallel")
    if parallel is not None and (isinstance(parallel, bool) or parallel < 1):
        raise ConfigError(
            f"field 'collect_parallel' is {parallel!r}", where=str(path), hint="clusters collected at once: 1 or more"
        )
    output = values.get("output")
    if output is not None and output not in OUTPUT_FORMATS:
        raise ConfigError(
            f"field 'output' is {output!r}", where=str(path), hint=f"use one of {', '.join(OUTPUT_FORMATS)}"
        )
    return FileConfig(path=path, **values)
