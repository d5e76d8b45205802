"""The simulator's second backend: the Kata world on a real control plane (``--backend kube-apiserver``).

``Simulator`` calls ``start``/``stop`` here instead of serving its own API. The product gets the
same things as from the in-memory backend: an API URL and a kubeconfig (a static admin token),
kata-monitor targets for Prometheus, and the ``/_sim`` endpoints (faults, stats, truth, the
request log) on a port of their own. The request log is read from the API server's audit log,
so it holds what the server really answered, and only the product's requests (and kubectl's):
the simulated kubelets and the control plane's own components are left out by the audit policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.controlplane import ControlPlane
from simulator.kubemirror import KubeHTTP, KubeMirror
from simulator.kubeworld import KubeWorld
from simulator.requestlog import RequestRecord

if TYPE_CHECKING:
    from simulator.server import Simulator

_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}


class KubeBackend:
    """The control plane, the mirror and the node agent of one simulator."""

    def __init__(self, sim: Simulator, mirror: KubeMirror) -> None:
        self.sim, self.mirror = sim, mirror
        self.plane = ControlPlane(out_dir=sim.out_dir / "k8s", token=sim.options.token)
        self.agent: KubeWorld | None = None
        self._audit_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the control plane and populate it (blocking: run on the simulator's own thread,
        which lives as long as the processes it starts)."""
        plane = self.plane.start()
        assert plane.certs is not None
        try:
            self.mirror.connect(KubeHTTP(plane.url, plane.agent_token, str(plane.certs.ca_path)))
            self.agent = KubeWorld(self.sim.world, self.mirror.http_client(), self.mirror)
            self.agent.populate()
        except BaseException:
            plane.stop()
            raise

    def follow(self, loop: asyncio.AbstractEventLoop, requests: deque[RequestRecord]) -> None:
        """Watch the server and act as the nodes' kubelets from now on; fill ``requests`` from the audit log."""
        assert self.agent is not None
        self.mirror.start(loop)
        self.agent.start()
        self._audit_task = loop.create_task(_tail_audit(self.plane.audit_log, requests))

    async def stop(self) -> None:
        """Stop following and stop the control plane."""
        if self._audit_task is not None:
            self._audit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._audit_task
        if self.agent is not None:
            self.agent.stop()
        self.mirror.stop()
        self.plane.stop()


async def _tail_audit(path: Path, requests: deque[RequestRecord]) -> None:
    offset = 0
    while True:
        try:
            with path.open("rb") as log:
                log.seek(offset)
                for line in log:
                    if not line.endswith(b"\n"):
                        break
                    offset += len(line)
                    record = _record(json.loads(line), RequestRecord)
                    if record is not None:
                        requests.append(record)
        except OSError:
            pass
        await asyncio.sleep(0.2)


def _record(event: dict[str, object], cls: type[RequestRecord]) -> RequestRecord | None:
    """One audit event (stage ResponseComplete) as a request-log record, or None."""
    if event.get("stage") != "ResponseComplete":
        return None
    ref = event.get("objectRef")
    verb = str(event.get("verb", ""))
    if not isinstance(ref, dict) or verb not in _VERBS:
        return None
    status = event.get("responseStatus")
    code = status.get("code") if isinstance(status, dict) else None
    return cls(
        verb=verb,
        group=str(ref.get("apiGroup", "")),
        resource=str(ref.get("resource", "")),
        subresource=ref.get("subresource"),
        namespace=ref.get("namespace"),
        name=ref.get("name"),
        status=int(code) if isinstance(code, int) and verb not in ("get", "list", "watch") else None,
    )
