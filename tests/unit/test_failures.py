"""Failed requests are described in plain words, never with the library's exception text: against
real loopback sockets and a real Prometheus."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.prom import PromConfig, PromSource, Sample
from collectors.health.rules import SLOW_SCRAPE, NodeInputs, evaluate
from collectors.health.thresholds import Thresholds
from collectors.releases.feed import load_feed
from simulator.prometheus import prometheus_server
from store.checks import Status
from store.errors import UnreachableError
from tests.support.sim import wait_for


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


@pytest.fixture
def failing_http() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(503)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _clean(text: str) -> None:
    for leak in ("HTTPConnectionPool", "Max retries", "Errno", "Error:", "object at 0x", "urllib3"):
        assert leak not in text, text


def test_prometheus_that_refuses_or_never_answers(closed_port: int, silent_port: int) -> None:
    refused = PromSource(PromConfig(url=f"http://127.0.0.1:{closed_port}"), "1m").raw("up")
    assert (
        refused
        == f"Prometheus at http://127.0.0.1:{closed_port}: connection refused (is it running, and is the port right?)"
    )
    silent = PromSource(PromConfig(url=f"http://127.0.0.1:{silent_port}", timeout_s=0.2), "1m").raw("up")
    assert silent == f"Prometheus at http://127.0.0.1:{silent_port}: no answer within 0.2s"


def test_a_query_prometheus_refuses_says_what_prometheus_said(prometheus_small: str) -> None:
    refused = PromSource(PromConfig(url=prometheus_small), "1m").raw("sum(")
    assert isinstance(refused, str) and refused.startswith("Prometheus answered HTTP 400: ")
    assert "parse error" in refused
    _clean(refused)


def test_a_release_feed_that_fails(closed_port: int, failing_http: int) -> None:
    with pytest.raises(UnreachableError) as refused:
        load_feed(f"http://127.0.0.1:{closed_port}/releases")
    assert (
        refused.value.message
        == "cannot fetch the release feed: connection refused (is it running, and is the port right?)"
    )
    with pytest.raises(UnreachableError) as failing:
        load_feed(f"http://127.0.0.1:{failing_http}/releases")
    assert failing.value.message == "cannot fetch the release feed: HTTP 503"
    _clean(str(refused.value) + str(failing.value))


def test_a_kata_monitor_that_answers_too_late_is_told_apart_from_one_that_is_gone(
    tmp_path: Path, closed_port: int, silent_port: int
) -> None:
    """A real Prometheus scrapes a target that never answers (slow) and one that refuses (gone);
    the health rules then say which is which."""
    targets = tmp_path / "targets.json"
    targets.write_text(
        json.dumps(
            [
                {"targets": [f"127.0.0.1:{silent_port}"], "labels": {"node": "slow-node"}},
                {"targets": [f"127.0.0.1:{closed_port}"], "labels": {"node": "gone-node"}},
            ]
        )
    )
    with prometheus_server(targets, interval="1s") as url:
        source = PromSource(PromConfig(url=url), "1m")
        errors = wait_for(
            lambda: (e := source.scrape_errors()) and {"slow-node", "gone-node"} <= set(e) and e,
            what="Prometheus to have scraped both targets",
        )
    by_node = {}
    for node in ("slow-node", "gone-node"):
        inputs = NodeInputs(
            ready=True,
            conditions=(),
            drift=(),
            targeted=True,
            up=Sample(0.0),
            scrape_error=errors[node],
            monitor_namespace="kata-deploy",
        )
        by_node[node] = next(c for c in evaluate(inputs, Thresholds()) if c.code == "KATA001")
    assert by_node["slow-node"].status == Status.CRIT and by_node["slow-node"].reason == SLOW_SCRAPE
    assert "scrape_timeout" in (by_node["slow-node"].remediation or "")
    assert by_node["gone-node"].reason.startswith("kata-monitor target is down (up == 0)")
    assert "kubectl -n kata-deploy get pods" in (by_node["gone-node"].remediation or "")  # where it was found
