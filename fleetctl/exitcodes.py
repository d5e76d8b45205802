"""Exit codes, and the one place that maps the error tree to them.

0    ok: nothing found
1    findings: the command worked and found something (like ``kubectl diff``), or ``upgrade apply``
     refused to start a plan (``PlanRefusedError``: the plan's own refusals, or a cluster deployed
     in a way the plan cannot upgrade; nothing was written)
2    usage or bad input: a flag, a file, a URL, an expression
3    unreachable, refused or busy: the cluster, Prometheus or the database did not answer, a cluster
     refused a call (RBAC forbids it, the object is not there, the request was invalid), the
     database is unusable, or another executor holds the run
4    timeout: the work did not finish in time
70   internal error: a bug in fleetctl; please report it
130  interrupted (Ctrl-C)
"""

from __future__ import annotations

from enum import IntEnum

from store.errors import (
    BadInputError,
    BusyError,
    FleetctlError,
    OperationTimeoutError,
    PlanRefusedError,
    RefusedError,
    StoreError,
    UnreachableError,
)


class ExitCode(IntEnum):
    """Documented process exit codes (docs/cli.md)."""

    OK = 0
    FINDINGS = 1
    BAD_INPUT = 2
    UNREACHABLE = 3
    TIMEOUT = 4
    INTERNAL = 70
    INTERRUPTED = 130


def exit_code_for(error: FleetctlError) -> ExitCode:
    """The exit code for an expected error."""
    if isinstance(error, BadInputError):
        return ExitCode.BAD_INPUT
    if isinstance(error, PlanRefusedError):
        return ExitCode.FINDINGS
    if isinstance(error, UnreachableError | RefusedError | StoreError | BusyError):
        return ExitCode.UNREACHABLE
    if isinstance(error, OperationTimeoutError):
        return ExitCode.TIMEOUT
    return ExitCode.INTERNAL
