"""Prometheus through prometheus-api-client, with timeouts and without retrying 503.

Prometheus answers a query that ran out of time with 503. The client library retries 5xx
three times by default, so one slow query would run four times and make the overload worse;
here nothing is retried. Each query also carries Prometheus' own ``timeout`` parameter, so
the server gives up when the client does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from clients.failures import plain_reason
from clients.promql import PromQLError, with_matcher


@dataclass(frozen=True)
class Sample:
    """One PromQL answer for one node: a value, or why there is none."""

    value: float | None = None
    failed: str | None = None  # the query failed (unknown, with this reason)


PER_CONTEXT_FIELDS = ("url", "job", "node_label", "timeout_s", "cluster_label", "cluster")


@dataclass(frozen=True)
class PromConfig:
    """Where Prometheus is, and how kata-monitor's targets are labelled there.

    ``cluster_label`` set: every query gets ``cluster_label="cluster"`` added to each of its vector
    selectors, and only targets with that label value count (one Thanos or Mimir for many clusters).
    A config made for no cluster in particular (``cluster`` None) keeps the whole ``[prometheus]``
    table in ``table``: ``for_cluster(name)`` resolves a cluster's own config from it.
    """

    url: str
    job: str = "kata-monitor"
    node_label: str = "node"
    timeout_s: float = 10.0
    cluster_label: str | None = None
    cluster: str | None = None
    table: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    flag_url: str | None = field(default=None, compare=False, hash=False, repr=False)

    def for_cluster(self, name: str) -> PromConfig | None:
        """This cluster's Prometheus (None: none is configured for it); see ``resolve_prom``."""
        if self.cluster is not None:
            return self if self.cluster_label is None or self.cluster == name else None
        if not self.table:  # made in code, not from settings: one Prometheus, no label
            return replace(self, cluster=name) if self.url else None
        return resolve_prom(self.table, url=self.flag_url, cluster=name)

    def urls(self) -> list[str]:
        """Every distinct Prometheus URL these settings can send a query to."""
        contexts = self.table.get("contexts") or {}
        found = [self.url] if self.url else []
        if not self.flag_url:
            found += [str(c["url"]) for c in contexts.values() if isinstance(c, Mapping) and c.get("url")]
        return list(dict.fromkeys(found))


def resolve_prom(table: Mapping[str, Any], *, url: str | None = None, cluster: str | None = None) -> PromConfig | None:
    """The one resolution of Prometheus settings, for health and gates alike.

    ``table`` is the config's ``[prometheus]``; ``url`` a ``--prometheus`` flag, which overrides
    every URL of the file (but not ``cluster_label``). For a ``cluster`` (a kubeconfig context):
    ``[prometheus.contexts.<cluster>]`` over the top-level fields over the defaults, except that
    a context with a ``url`` of its own does not inherit the top-level ``cluster_label`` (unless
    the flag's URL replaces it); the label value is that table's ``cluster`` or else the context name. Without a cluster: the top-level
    settings (no matcher), carrying the table so ``for_cluster`` can resolve each one; None when
    no URL is configured anywhere (or, for a cluster, none for it).
    """
    top = {k: v for k, v in table.items() if k != "contexts"}
    contexts: Mapping[str, Any] = table.get("contexts") or {}
    if cluster is None:
        chosen = url or top.get("url") or ""
        if not chosen and not any(isinstance(c, Mapping) and c.get("url") for c in contexts.values()):
            return None
        options = {k: v for k, v in top.items() if k not in ("url", "cluster_label", "cluster")}
        return PromConfig(url=chosen, **options, table=table, flag_url=url)
    own: Mapping[str, Any] = contexts.get(cluster) or {}
    merged = {**top, **own}
    chosen = url or merged.get("url")
    if not chosen:
        return None
    if "cluster_label" in own:
        label = own["cluster_label"] or None  # "" turns the top level's off
    else:  # the top level's label is for the top level's (or the flag's) URL, not a context's own
        label = (top.get("cluster_label") or None) if url or not own.get("url") else None
    options = {k: v for k, v in merged.items() if k in ("job", "node_label", "timeout_s")}
    value = str(own.get("cluster") or cluster)
    return PromConfig(url=str(chosen), **options, cluster_label=label, cluster=value)


class PromSource:
    """Per-node answers to the health queries."""

    def __init__(self, config: PromConfig, window: str) -> None:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        self.config = config
        self.window = window
        self.queries = 0
        self._client = PrometheusConnect(
            url=config.url, disable_ssl=False, retry=Retry(total=0, raise_on_status=False), timeout=config.timeout_s
        )

    def prepare(self, promql: str) -> str:
        """The query as sent: with this cluster's matcher on every vector selector when
        ``cluster_label`` is set. Raises ``PromQLError`` (``MatcherConflict``) when it cannot be."""
        label, value = self.config.cluster_label, self.config.cluster
        return with_matcher(promql, label, value) if label and value is not None else promql

    def raw(self, promql: str) -> list[dict[str, Any]] | str:
        """The instant vector's rows (``metric``, ``value``), or the reason the query failed."""
        from prometheus_api_client.exceptions import PrometheusApiClientException
        from requests import RequestException

        try:
            promql = self.prepare(promql)
        except PromQLError as exc:
            return f"the query cannot be limited to cluster {self.config.cluster}: {exc}"
        self.queries += 1
        try:
            rows: list[dict[str, Any]] = self._client.custom_query(
                promql, params={"timeout": f"{self.config.timeout_s:g}s"}
            )
        except PrometheusApiClientException as exc:
            return f"Prometheus answered {plain_reason(exc)}"
        except RequestException as exc:
            return f"Prometheus at {self.config.url}: {plain_reason(exc, timeout_s=self.config.timeout_s)}"
        except ValueError as exc:  # a body that is not the API's JSON
            return _short(f"unexpected answer: {exc}")
        return rows if isinstance(rows, list) else _short(f"unexpected answer: {type(rows).__name__}")

    def scrape_errors(self) -> dict[str, str] | None:
        """``{node: the last scrape's error}`` of the kata-monitor targets Prometheus sees as down;
        None when it cannot say (the caller then knows only ``up == 0``)."""
        from prometheus_api_client.exceptions import PrometheusApiClientException
        from requests import RequestException

        self.queries += 1
        try:
            data = self._client.get_targets(state="active")
        except (PrometheusApiClientException, RequestException, ValueError):
            return None
        out: dict[str, str] = {}
        label, cluster = self.config.cluster_label, self.config.cluster
        for target in data.get("activeTargets", []) if isinstance(data, dict) else []:
            labels = target.get("labels") or {}
            if label and labels.get(label) != cluster:
                continue  # another cluster's target
            node = labels.get(self.config.node_label)
            if node and target.get("health") == "down" and labels.get("job", self.config.job) == self.config.job:
                out[str(node)] = str(target.get("lastError") or "")
        return out

    def values(self, promql: str) -> list[float] | str:
        """Every sample value of an instant query (NaN dropped), or the reason it failed."""
        rows = self.raw(promql)
        if isinstance(rows, str):
            return rows
        return [v for v in (_value(row) for row in rows) if v is not None]

    def query(self, promql: str) -> dict[str, Sample] | str:
        """``{node: value}`` for a query, or the reason it failed."""
        rows = self.raw(promql)
        if isinstance(rows, str):
            return rows
        out: dict[str, Sample] = {}
        for row in rows:
            node = (row.get("metric") or {}).get(self.config.node_label)
            value = _value(row)
            if node and value is not None:
                out[str(node)] = Sample(value=value)
        return out

    def promql(self) -> dict[str, str]:
        """The health queries, by input name."""
        label, window, job = self.config.node_label, self.window, self.config.job
        return {
            "up": f'max by ({label}) (up{{job="{job}"}})',
            "shims": f"max by ({label}) (kata_monitor_running_shim_count)",
            "scrape_failures_per_min": f"sum by ({label}) (rate(kata_monitor_scrape_failed_count[{window}])) * 60",
            "rpc_p99_ms": f"histogram_quantile(0.99, sum by ({label}, le) (rate(kata_shim_rpc_durations_histogram_milliseconds_bucket[{window}])))",
            "hypervisor_threads": f"max by ({label}) (kata_hypervisor_threads)",
            "hypervisor_fds": f"max by ({label}) (kata_hypervisor_fds)",
            "guest_mem_available": f'min by ({label}) (kata_guest_meminfo{{item="mem_available"}} / ignoring(item) kata_guest_meminfo{{item="mem_total"}})',
        }


def _value(row: dict[str, Any]) -> float | None:
    try:
        value = float(row["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _short(text: str) -> str:
    return text.splitlines()[0][:200] if text else "unknown error"


def scrape_timed_out(error: str | None) -> bool:
    """Whether Prometheus' scrape error is a timeout (a slow target) rather than a refusal or a bad answer."""
    return bool(error) and any(word in str(error).lower() for word in ("deadline exceeded", "timeout", "timed out"))
