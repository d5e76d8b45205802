"""Kubeconfig contexts: which clusters to talk to, and how; tokens never leave this module."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from store.errors import BadInputError, yaml_problem
from store.redaction import register_secret

POOL_CONNECTIONS = 128
"""Keep-alive connections per cluster. A rollout runs one thread per node in flight (up to
maxUnavailable); the client's default pool (5 per CPU) would close and reopen a TLS connection
for nearly every request of a wide wave. Connections open only when used."""


@dataclass(frozen=True)
class Context:
    """One kubeconfig context: its name, its server, and an API client for it."""

    name: str
    server: str
    api: client.ApiClient


def in_cluster() -> Context:
    """The pod's own service account, as a context named ``$FLEETCTL_CLUSTER`` (or in-cluster)."""
    settings = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=settings)
    except ConfigException as exc:
        raise BadInputError(
            f"no kubeconfig, and the in-cluster service account cannot be used: {exc}",
            where="in-cluster config",
            hint="mount a service account token, or pass --kubeconfig PATH",
        ) from None
    settings.connection_pool_maxsize = POOL_CONNECTIONS
    register_secret(str(settings.api_key.get("authorization", "")).removeprefix("Bearer "))
    name = os.environ.get("FLEETCTL_CLUSTER") or "in-cluster"
    return Context(name=name, server=str(settings.host), api=client.ApiClient(settings))


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise BadInputError("kubeconfig not found", where=str(path), hint="pass --kubeconfig PATH or set KUBECONFIG")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        problem, at = yaml_problem(exc, str(path))
        raise BadInputError(
            f"kubeconfig is not valid YAML: {problem}", where=at, hint="check the file with `kubectl config view`"
        ) from None
    except UnicodeDecodeError:
        raise BadInputError("kubeconfig is not UTF-8 text", where=str(path), hint="save it as UTF-8 YAML") from None
    except OSError as exc:
        raise BadInputError(
            f"cannot read the kubeconfig: {exc.strerror or 'read failed'}",
            where=str(path),
            hint="check its permissions",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("contexts"), list):
        raise BadInputError(
            "kubeconfig has no contexts list", where=str(path), hint="check the file with `kubectl config view`"
        )
    for key in ("clusters", "users"):
        if not isinstance(data.get(key) or [], list):
            raise BadInputError(
                f"kubeconfig's {key} is not a list", where=str(path), hint="check the file with `kubectl config view`"
            )
    for user in data.get("users") or []:
        if isinstance(user, dict) and isinstance(user.get("user"), dict):
            for secret in ("token", "password", "client-key-data"):
                register_secret(user["user"].get(secret))
    return data


def context_names(path: Path) -> tuple[list[str], str | None]:
    """All context names in the kubeconfig, and its current-context."""
    data = _load(path)
    names = [c.get("name") for c in data["contexts"] if isinstance(c, dict) and c.get("name")]
    return [str(n) for n in names], data.get("current-context")


def open_contexts(path: Path, names: list[str] | None = None, *, all_contexts: bool = False) -> list[Context]:
    """API clients for the named contexts (default: the current-context). In a pod, with no
    kubeconfig file, the pod's service account (the cluster is named by ``FLEETCTL_CLUSTER``)."""
    if not path.exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return [in_cluster()]
    available, current = context_names(path)
    if all_contexts:
        wanted = available
    elif names:
        wanted = names
    elif current:
        wanted = [current]
    else:
        raise BadInputError(
            "the kubeconfig has no current-context", where=str(path), hint="pass --context NAME or --all-contexts"
        )
    out = []
    for name in wanted:
        if name not in available:
            raise BadInputError(
                f"context {name!r} is not in the kubeconfig",
                where=str(path),
                hint=f"use one of: {', '.join(available)}"
                if available
                else "the kubeconfig has no contexts: add one with `kubectl config set-context`",
            )
        try:
            settings = client.Configuration()
            settings.connection_pool_maxsize = POOL_CONNECTIONS
            api = config.new_client_from_config(
                config_file=str(path), context=name, persist_config=False, client_configuration=settings
            )
        except (ConfigException, ValueError, TypeError, OSError) as exc:
            raise BadInputError(
                f"context {name!r} cannot be used: {str(exc).splitlines()[0][:200]}",
                where=str(path),
                hint="check it with `kubectl --context NAME get nodes`",
            ) from None
        register_secret(api.configuration.api_key.get("authorization", "").removeprefix("Bearer "))
        out.append(Context(name=name, server=str(api.configuration.host), api=api))
    return out
