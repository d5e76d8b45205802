"""``make demo | tee demo.log``: stdout is a pipe, stdin and stderr are the terminal, and the dashboard
still opens (it draws on stderr), takes keys from stdin and quits."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time

from tests.support.cli import FLEETCTL
from tests.support.sim import SAFETY_NET_S


def _read_until(fd: int, wanted: bytes, seen: bytearray, limit_s: float) -> bool:
    """Read the terminal until ``wanted`` has appeared (a safety net of ``limit_s``, not a budget)."""
    deadline = time.monotonic() + limit_s
    while wanted not in seen:
        if time.monotonic() > deadline:
            return False
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                return wanted in seen
    return True


def test_the_dashboard_opens_when_stdout_is_a_pipe_and_quits() -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"}
    proc = subprocess.Popen(
        [*FLEETCTL, "demo", "--profile", "small", "--time-scale", "50"],
        stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    seen = bytearray()
    try:
        assert _read_until(master, b"the guided demo", seen, SAFETY_NET_S * 2), seen[-2000:].decode(errors="replace")
        os.write(master, b"\x11")  # ctrl+q: quit from any screen (no escape key, whose timing is Textual's)
        out, _ = proc.communicate(timeout=SAFETY_NET_S * 2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == 0
    text = out.decode()
    assert "demo fleet: 30 nodes" in text and "the guided scenario" in text.lower()
    assert "no terminal" not in text
