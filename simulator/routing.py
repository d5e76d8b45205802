"""Mapping Kubernetes API paths to (resource, namespace, name, subresource)."""

from __future__ import annotations

from dataclasses import dataclass

from simulator import resources as r
from simulator.objectstore import ApiError
from simulator.resources import ResourceType


@dataclass(frozen=True)
class Target:
    """What an API path addresses."""

    rt: ResourceType
    namespace: str | None  # None: all namespaces (or cluster-scoped)
    name: str | None  # None: the collection
    subresource: str | None = None


def parse(path: str) -> Target:
    """Parse ``/api/v1/...`` or ``/apis/GROUP/VERSION/...``; 404 for anything else."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    namespace: str | None = None
    # /namespaces/NAME is the Namespace object; /namespaces/NS/PLURAL/... is a namespaced resource.
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    rt = r.lookup(group, version, rest[0])
    if rt is None:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if namespace is not None and not rt.namespaced:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else None
    if sub is not None and sub not in rt.subresources:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return Target(rt, namespace, name, sub)
