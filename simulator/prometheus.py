"""A real Prometheus (Debian's package) scraping a simulator's kata-monitor targets on loopback.

Used by the tests, the demo and rehearsals: the product then queries it over HTTP like any
Prometheus. It keeps a temporary TSDB and stops with the context.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary() -> str:
    found = prometheus_binary()
    if not found:
        raise RuntimeError("Prometheus is not installed: run `make test` as root, or apt-get install prometheus")
    return found


CONFIG = """\
global:
  scrape_interval: {interval}
  scrape_timeout: {timeout}
  evaluation_interval: {interval}
scrape_configs:
  - job_name: kata-monitor
    file_sd_configs:
      - files: [{targets}]
        refresh_interval: 1s
"""


SCRAPES_PER_CORE_S = 25.0
"""kata-monitor scrapes per second one core can serve from the simulator, with room for its
API server and the product beside it (a scrape costs it about 10 ms of CPU)."""


def scrape_interval_for(targets: int, cores: int | None = None) -> float:
    """A scrape interval (seconds, whole, at least 1) at which Prometheus scraping ``targets``
    kata-monitors keeps the simulator within ``SCRAPES_PER_CORE_S`` per core: 1 s for 30 nodes,
    8 s for 400 on 2 cores. The timeout is the interval itself, so a slow scrape is late, not down."""
    usable = max(1, cores if cores is not None else len(os.sched_getaffinity(0)))
    return float(max(1, math.ceil(targets / (SCRAPES_PER_CORE_S * usable))))


def prometheus_binary() -> str | None:
    """Debian's prometheus binary."""
    return shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)


class PrometheusProcess:
    """Debian's Prometheus on a fixed loopback port with a temporary TSDB; it can be stopped and
    started again (same port, same data), as chaos tests do to a monitoring outage."""

    def __init__(
        self,
        targets: Path,
        *,
        interval: str = "1s",
        static_jobs: Mapping[str, Sequence[str]] | None = None,
        rule_files: Sequence[Path] = (),
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fleetctl-prom-"))
        self.config = self.root / "prometheus.yml"
        config = CONFIG.format(interval=interval, timeout=interval, targets=json.dumps(str(targets)))
        for job, addresses in (static_jobs or {}).items():  # e.g. fleetctl serve's /metrics
            config += f"  - job_name: {json.dumps(job)}\n    static_configs:\n      - targets: {json.dumps(list(addresses))}\n"
        if rule_files:
            config += f"rule_files: {json.dumps([str(f) for f in rule_files])}\n"
        self.config.write_text(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it is ready (at most 30 s)."""
        log = (self.root / "prometheus.log").open("a")
        self._proc = subprocess.Popen(
            [
                _binary(),
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.root / 'prometheus.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus did not become ready in 30 s")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 10 s)."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def close(self) -> None:
        """Stop it and remove its data."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def prometheus_server(
    targets: Path,
    *,
    interval: str = "1s",
    static_jobs: Mapping[str, Sequence[str]] | None = None,
    rule_files: Sequence[Path] = (),
) -> Iterator[str]:
    """Start Prometheus scraping the file_sd ``targets`` (and ``static_jobs``: job -> host:port
    list), evaluating ``rule_files``; yield its base URL."""
    prometheus = PrometheusProcess(targets, interval=interval, static_jobs=static_jobs, rule_files=rule_files)
    try:
        prometheus.start()
        yield prometheus.url
    finally:
        prometheus.close()
