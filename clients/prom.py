"""Prometheus through prometheus-api-client, with timeouts and without retrying 503.

Prometheus answers a query that ran out of time with 503. The client library retries 5xx
three times by default, so one slow query would run four times and make the overload worse;
here nothing is retried. Each query also carries Prometheus' own ``timeout`` parameter, so
the server gives up when the client does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from clients.failures import plain_reason


@dataclass(frozen=True)
class Sample:
    """One PromQL answer for one node: a value, or why there is none."""

    value: float | None = None
    failed: str | None = None  # the query failed (unknown, with this reason)


@dataclass(frozen=True)
class PromConfig:
    """Where Prometheus is, and how kata-monitor's targets are labelled there."""

    url: str
    job: str = "kata-monitor"
    node_label: str = "node"
    timeout_s: float = 10.0


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

    def raw(self, promql: str) -> list[dict[str, Any]] | str:
        """The instant vector's rows (``metric``, ``value``), or the reason the query failed."""
        from prometheus_api_client.exceptions import PrometheusApiClientException
        from requests import RequestException

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
        for target in data.get("activeTargets", []) if isinstance(data, dict) else []:
            labels = target.get("labels") or {}
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
