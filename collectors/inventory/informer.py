"""Informers: a paged list, then a watch from the list's resourceVersion; relist on 410.

Used by ``fleetctl collect --watch`` for nodes and for the few labelled pods that matter (kata-deploy,
Cloud API Adaptor), so changes (a cordon, a new release, a crash-looping install) reach the store at
the next write, without listing 10,000 nodes and 200,000 pods every interval.
Bookmarks keep the resourceVersion fresh. A watch that ends (server timeout, dropped
connection) resumes from the last resourceVersion; one too old for the server's history
(410 Gone) leads to one relist, which replaces the cache, so nothing is lost or duplicated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from clients.kube.client import KubeClient
from clients.kube.errors import KubeGone, KubeTemporaryError
from collectors.inventory.collector import RetryPolicy, _Retrier


@dataclass
class Informer:
    """The current objects of one list (``path`` + ``params``), kept up to date by a watch; keyed namespace/name."""

    client: KubeClient
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    path: str = "/api/v1/nodes"
    params: dict[str, str] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    resource_version: str = ""
    relists: int = 0
    watch_restarts: int = 0
    errors_retried: int = 0

    def relist(self) -> None:
        """Replace the cache with a fresh paged list."""
        retrier = _Retrier(self.retry)
        objects: dict[str, dict[str, Any]] = {}
        rv = ""
        for page in self.client.list_pages(self.path, self.params, retry=retrier.run):
            for item in page.get("items") or []:
                objects[_key(item)] = item
            rv = (page.get("metadata") or {}).get("resourceVersion", rv)
        self.errors_retried += retrier.retried
        self.objects, self.resource_version = objects, rv
        self.relists += 1

    def watch_until(self, deadline: float) -> None:
        """Apply watch events until ``deadline`` (time.monotonic()); relist on 410, back off on errors."""
        if not self.resource_version:
            self.relist()
        delay = self.retry.base
        while (remaining := deadline - time.monotonic()) > 0.05:
            try:
                for event in self.client.watch(
                    self.path, self.resource_version, self.params, timeout_seconds=max(1, int(remaining + 0.5))
                ):
                    self._apply(event)
                    if time.monotonic() >= deadline:
                        return
                self.watch_restarts += 1
                delay = self.retry.base
            except KubeGone:
                self.relist()
            except KubeTemporaryError:
                self.errors_retried += 1
                self.retry.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, self.retry.cap)

    def _apply(self, event: dict[str, Any]) -> None:
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        rv = meta.get("resourceVersion")
        kind = event.get("type")
        if kind in ("ADDED", "MODIFIED"):
            self.objects[_key(obj)] = obj
        elif kind == "DELETED":
            self.objects.pop(_key(obj), None)
        if rv:
            self.resource_version = rv


def _key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


class NodeInformer(Informer):
    """The Node objects of one cluster, by name."""

    @property
    def nodes(self) -> dict[str, dict[str, Any]]:
        """Nodes by name."""
        return {obj["metadata"]["name"]: obj for obj in self.objects.values()}
