"""The fleetctl command as a user runs it: a subprocess, whose exit code and output tests check."""

from __future__ import annotations

import os
import subprocess
import sys

FLEETCTL = [sys.executable, "-m", "fleetctl"]


def fleetctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``fleetctl ARGS`` (the timeout is a safety net for a hang, not a budget)."""
    return subprocess.run(
        [*FLEETCTL, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], code: int) -> None:
    """An expected error: this exit code, no traceback, nothing on stdout."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def fleetctl_in_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``fleetctl ARGS`` in this process: the same ``run()`` boundary, exit code and
    streams as the subprocess, without an interpreter start; ``env`` is set for the call only.
    For tests of messages and codes; each command keeps one subprocess test of its own."""
    import contextlib
    import io

    from fleetctl.cli.app import run

    out, errs = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(errs):
            code = run(list(args))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(["fleetctl", *args], code, out.getvalue(), errs.getvalue())


def default_sigint() -> None:
    """``preexec_fn`` for a child that must get Ctrl-C: a suite started in the background (``make
    test &``) ignores SIGINT, and children inherit that."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
