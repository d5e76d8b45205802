"""Kubeconfig contexts: which clusters to talk to, and how; tokens never leave this module."""

from __future__ import annotations

import binascii
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from store.errors import BadInputError, yaml_problem
from store.redaction import register_secret

# urllib3 logs each retry of a refused connection as a warning with the library's exception text; the
# collector reports the failure itself, in words, once.
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

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
            f"no kubeconfig, and the in-cluster service account cannot be used: {_in_words(exc)}",
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
        _check_context(path, name)
        try:
            settings = client.Configuration()
            settings.connection_pool_maxsize = POOL_CONNECTIONS
            api = config.new_client_from_config(
                config_file=str(path), context=name, persist_config=False, client_configuration=settings
            )
        except (ConfigException, ValueError, TypeError, OSError) as exc:
            raise BadInputError(
                f"context {name!r} cannot be used: {_in_words(exc)}",
                where=str(path),
                hint=f"check it with `kubectl --context {name} get nodes`",
            ) from None
        register_secret(api.configuration.api_key.get("authorization", "").removeprefix("Bearer "))
        out.append(Context(name=name, server=str(api.configuration.host), api=api))
    return out


def _entry(data: dict[str, Any], section: str, name: object) -> dict[str, Any]:
    """The ``cluster``/``user`` body of the named entry of ``clusters``/``users`` (empty when missing)."""
    for item in data.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name:
            body = item.get(section[:-1])
            return body if isinstance(body, dict) else {}
    return {}


def _check_context(path: Path, name: str) -> None:
    """Refuse what the client library would only trip over later: no server, a server without a
    scheme, an exec credential plugin that is not installed."""
    data = _load(path)
    ctx = next((c.get("context") for c in data["contexts"] if isinstance(c, dict) and c.get("name") == name), None)
    ctx = ctx if isinstance(ctx, dict) else {}
    server = str(_entry(data, "clusters", ctx.get("cluster")).get("server") or "")
    hint = f"check it with `kubectl config view --minify --context {name}`"
    if not server:
        raise BadInputError(f"context {name!r} names a cluster with no server", where=str(path), hint=hint)
    if not server.startswith(("https://", "http://")):
        raise BadInputError(
            f"context {name!r}: the server {server!r} has no scheme",
            where=str(path),
            hint=f"write it as https://{server}",
        )
    plugin = _entry(data, "users", ctx.get("user")).get("exec")
    command = plugin.get("command") if isinstance(plugin, dict) else None
    if isinstance(command, str) and command and shutil.which(command) is None:
        raise BadInputError(
            f"context {name!r} gets its credentials from {command!r}, which is not installed",
            where=str(path),
            hint=f"install {command} (or put it on PATH); kubectl needs it too",
        )


def _in_words(exc: BaseException) -> str:
    """The client library's complaint about a context, in plain words."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if text.startswith("File does not exist: "):
        return f"the file {text.removeprefix('File does not exist: ')} that it names does not exist"
    if isinstance(exc, binascii.Error) or "base64" in text.lower():
        return "its certificate or key data is not valid base64"
    if "Invalid kube-config file" in text:
        return "the kubeconfig entry is incomplete (a cluster or user it names is missing)"
    return text[:200]
