"""A ``fleetctl serve`` process for tests, and maintenance windows that open soon."""

from __future__ import annotations

import signal
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from simulator.prometheus import free_port
from tests.support.fleet import Fleet


class Serve:
    """One ``fleetctl serve`` process of the fleet."""

    def __init__(self, fleet: Fleet, name: str, *extra: str, port: int | None = None) -> None:
        self.port = port or free_port()  # a port chosen beforehand, e.g. for a Prometheus that scrapes it
        self.log = fleet.tmp / f"{name}.log"
        args = fleet.args(
            "serve", "--port", str(self.port), "--reconcile-interval", "1s", "--leader-ttl", "3s",
            "--poll", "0.05s", "--lease-ttl", "3s", "--collect-interval", "5s", *extra,
        )  # fmt: skip
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    def text(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 180) -> int:
        """Send ``sig`` and wait for the exit; ``timeout`` is a safety net, not a budget."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def window_starting_in(seconds: float, every: int, duration: int) -> tuple[str, datetime]:
    start = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
    return f"DTSTART:{start:%Y%m%dT%H%M%SZ}\nRRULE:FREQ=SECONDLY;INTERVAL={every}", start
