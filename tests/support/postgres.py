"""A throwaway PostgreSQL server from Debian's package, on loopback, for the test session.

Set ``FLEETCTL_TEST_PG=postgresql://USER@HOST:PORT`` to use a server that is already
running instead. As root, the server runs as the ``postgres`` user, because initdb refuses
to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def find_bindir() -> Path:
    """The newest Debian PostgreSQL bin directory."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make test` as root, or apt-get install postgresql")
    return Path(found[-1]).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yield its base URL ``postgresql://postgres@127.0.0.1:PORT``."""
    if url := os.environ.get("FLEETCTL_TEST_PG"):
        yield url.rstrip("/")
        return
    bindir = find_bindir()
    root = Path(tempfile.mkdtemp(prefix="fleetctl-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    try:
        subprocess.run(
            _as_server_user(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )
        # Throwaway data: durability off, for speed.
        durability = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 {durability}"
        subprocess.run(
            _as_server_user(
                [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]
            ),
            check=True,
            capture_output=True,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
