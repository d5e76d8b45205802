"""A real Prometheus (Debian's package) scraping a simulator's kata-monitor targets on loopback.

Used by the tests, the demo and rehearsals: the product then queries it over HTTP like any
Prometheus. It keeps a temporary TSDB and stops with the context.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
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


def prometheus_binary() -> str | None:
    """Debian's prometheus binary."""
    return shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)


@contextmanager
def prometheus_server(targets: Path, *, interval: str = "1s") -> Iterator[str]:
    """Start Prometheus scraping the file_sd ``targets``; yield its base URL."""
    root = Path(tempfile.mkdtemp(prefix="fleetctl-prom-"))
    config = root / "prometheus.yml"
    config.write_text(CONFIG.format(interval=interval, timeout=interval, targets=json.dumps(str(targets))))
    port = free_port()
    log = (root / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            _binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            "--storage.tsdb.retention.time=1h",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(root / 'prometheus.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus did not become ready in 30 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
