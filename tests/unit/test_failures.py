"""Failed requests are described in plain words, never with the library's exception text: against
real loopback sockets and a real Prometheus."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from collectors.health.prom import PromConfig, PromSource
from collectors.releases.feed import load_feed
from store.errors import UnreachableError


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
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
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
