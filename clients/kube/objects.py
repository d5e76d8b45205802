"""Typed views of the Kubernetes objects the collector reads: only the fields it uses.

Decoded by ``clients.kube.decode.decode_as``; every field has a default, so an object that lacks
one (a pod not yet scheduled, a status not yet written) decodes as the API would show it.
``gc=False``: these trees hold no cycles, so the garbage collector need not walk them.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from clients.kube.decode import ListMeta

T = TypeVar("T")


class OwnerRef(msgspec.Struct, gc=False):
    """One ``metadata.ownerReferences`` entry."""

    kind: str = ""
    name: str = ""


class Meta(msgspec.Struct, gc=False):
    """An object's ``metadata``."""

    name: str = ""
    namespace: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    deletionTimestamp: str | None = None
    ownerReferences: list[OwnerRef] = msgspec.field(default_factory=list)


class Container(msgspec.Struct, gc=False):
    """A pod's container: its image."""

    image: str = ""


class PodSpec(msgspec.Struct, gc=False):
    """The parts of a pod's spec that place it and say how it runs."""

    nodeName: str | None = None
    runtimeClassName: str | None = None
    containers: list[Container] = msgspec.field(default_factory=list)


class Waiting(msgspec.Struct, gc=False):
    """A waiting container's reason (``CrashLoopBackOff``)."""

    reason: str | None = None


class ContainerState(msgspec.Struct, gc=False):
    """A container's state; only waiting matters here."""

    waiting: Waiting | None = None


class ContainerStatus(msgspec.Struct, gc=False):
    """One ``status.containerStatuses`` entry."""

    state: ContainerState = msgspec.field(default_factory=ContainerState)


class PodStatus(msgspec.Struct, gc=False):
    """A pod's phase, start and container states."""

    phase: str | None = None
    startTime: str | None = None
    containerStatuses: list[ContainerStatus] = msgspec.field(default_factory=list)


class Pod(msgspec.Struct, gc=False):
    """A pod, as the collector reads it."""

    metadata: Meta = msgspec.field(default_factory=Meta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)
    status: PodStatus = msgspec.field(default_factory=PodStatus)

    @property
    def image(self) -> str:
        """The first container's image."""
        return self.spec.containers[0].image if self.spec.containers else ""


class PeerPod(msgspec.Struct, gc=False):
    """A Cloud API Adaptor PeerPod: its name, namespace and owning Pod."""

    metadata: Meta = msgspec.field(default_factory=Meta)


class Page(msgspec.Struct, Generic[T], gc=False):
    """One page of a list."""

    items: list[T] = msgspec.field(default_factory=list)
    metadata: ListMeta = msgspec.field(default_factory=ListMeta)
