"""The one error tree of fleetctl.

Every error fleetctl raises on purpose derives from :class:`FleetctlError`. Each carries a
message a person can act on: what was wrong, where, and what to do next. The original
library error is chained as ``__cause__``. The CLI maps classes to exit codes in one place
(``fleetctl.exitcodes``); nothing else decides an exit code.

    FleetctlError
    ├── BadInputError              bad input from a person or a file         (exit 2)
    │   ├── VersionParseError      a Kata version string
    │   ├── KernelParseError       a guest kernel path or name
    │   ├── ArchError              an unknown CPU architecture
    │   ├── ConfigError            the config file
    │   ├── DatabaseURLError       a --db / FLEETCTL_DB URL, or its directory
    │   └── StoreMissingError      no store at that path (a typo'd --db)
    ├── UnreachableError           a dependency did not answer              (exit 3)
    │   └── StoreUnreachableError  the database
    ├── PlanRefusedError           upgrade apply will not start the plan     (exit 1)
    ├── RefusedError               a cluster answered no: forbidden, not    (exit 3)
    │                              found, conflict, invalid (the Kubernetes
    │                              tree: clients/kube/errors.py)
    ├── BusyError                  another executor holds the run           (exit 3)
    ├── OperationTimeoutError      work did not finish in time              (exit 4)
    └── StoreError                 the database answered, but wrongly       (exit 3)
        └── SchemaError            the schema is newer than this fleetctl

This module lives in ``store`` because ``store`` is the lowest layer: every other package
may import it, and it imports nothing of ours.
"""

from __future__ import annotations


class FleetctlError(Exception):
    """Root of every error fleetctl raises on purpose.

    ``where`` names the place (a file and field, a flag, a URL without secrets) and
    ``hint`` says what to do next. Both are optional but should be given when known.
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class BadInputError(FleetctlError):
    """Input from a person or a file is wrong; fixing the input fixes the error."""


class VersionParseError(BadInputError):
    """A string is not a Kata version."""


class KernelParseError(BadInputError):
    """A string is not a guest kernel path or file name."""


class ArchError(BadInputError):
    """A CPU architecture fleetctl does not know."""


class ConfigError(BadInputError):
    """The config file is unreadable or has a bad field."""


class DatabaseURLError(BadInputError):
    """A database URL fleetctl cannot use."""


class StoreMissingError(BadInputError):
    """A ``--db`` SQLite path names no store. Only the commands that fill a store (``collect``,
    ``serve``, ``releases sync``, ``db upgrade``) create one."""


class UnreachableError(FleetctlError):
    """A dependency (database, cluster, Prometheus) did not answer."""


class StoreUnreachableError(UnreachableError):
    """The database could not be reached or refused the login."""


class PlanRefusedError(FleetctlError):
    """``upgrade apply`` will not start the plan (exit 1, as ``upgrade plan`` exits for it): the
    plan's own refusals, a refusing pre-flight check, or a cluster deployed in a way the plan cannot
    upgrade. Nothing is written."""


class RefusedError(FleetctlError):
    """A cluster answered, and refused: RBAC forbids the call, the object is not there, or the
    request was invalid. Retrying the same call will not help; the message names the call."""


class BusyError(FleetctlError):
    """Someone else holds the lock on this work (another executor of the same run)."""


class OperationTimeoutError(FleetctlError):
    """Work did not finish within its time limit."""


class StoreError(FleetctlError):
    """The database answered, but not as expected."""


class SchemaError(StoreError):
    """The database schema does not match this version of fleetctl."""


_YAML_TOKENS = {
    "'<block end>'": "the end of an indented block",
    "<block end>": "the end of an indented block",
    "'<block mapping start>'": "a key whose indent does not line up",
    "'<block sequence start>'": "a list whose indent does not line up",
    "'<stream end>'": "the end of the file",
    "'<scalar>'": "a plain value",
    "'<document start>'": "a new document (---)",
    "'<flow mapping start>'": "a '{'",
    "'<flow sequence start>'": "a '['",
}
_YAML_PROBLEMS = {
    "mapping values are not allowed here": "a ':' where a value was expected (quote the value, or fix the indent)",
    "found character '\\t' that cannot start any token": "a tab character (YAML indents with spaces)",
}


def yaml_problem(exc: BaseException, where: str) -> tuple[str, str]:
    """A YAML parse error as (what, where): PyYAML's problem in plain words, and ``FILE:LINE:COL``."""
    mark = getattr(exc, "problem_mark", None)
    at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
    problem = str(getattr(exc, "problem", None) or "invalid YAML")
    problem = _YAML_PROBLEMS.get(problem, problem)
    for token, words in _YAML_TOKENS.items():
        problem = problem.replace(token, words)
    return problem, at
