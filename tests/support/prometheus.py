"""The tests' Prometheus: the simulator's runner, plus an instant-query helper."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

from simulator.prometheus import prometheus_binary, prometheus_server

__all__ = ["instant", "prometheus_binary", "prometheus_server"]


def instant(url: str, query: str) -> list[dict[str, Any]]:
    """Run an instant PromQL query; return the result vector."""
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}", timeout=10) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result
