"""One executor per run: a Kubernetes Lease per cluster, plus the run's holder row in the store.

The holder is ``host/pid/nonce``. A lease held by a process of this host that no longer exists
(a SIGKILLed executor) is taken over at once; any other holder must let it expire first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from clients.kube.client import KubeClient
from clients.kube.errors import KubeConflict, KubeNotFound
from store.engine import Store
from store.errors import BusyError, FleetctlError
from store.runs import claim_run, release_run, renew_run

NAMESPACE = "kube-system"


class RunLockedError(BusyError):
    """Another executor holds this run (exit 3)."""


def new_identity() -> str:
    """This process as a lease holder."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"


def holder_alive(holder: str) -> bool:
    """False only when the holder is a process of this host that has exited."""
    parts = holder.split("/")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return True
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _micro(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        try:
            return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None


class LeaseHeld(Exception):
    """The Lease is someone else's: its holder, and when it expires (None: it just moved)."""

    def __init__(self, holder: str, expires: datetime | None) -> None:
        super().__init__(holder)
        self.holder, self.expires = holder, expires


class KubeLease:
    """A coordination.k8s.io/v1 Lease held by this process: taken, renewed, given back."""

    def __init__(self, name: str, identity: str, ttl: timedelta, namespace: str = NAMESPACE) -> None:
        self.name, self.identity, self.ttl, self.namespace = name, identity, ttl, namespace

    def path(self, name: str | None = None) -> str:
        """The Lease's API path (or its collection's)."""
        base = f"/apis/coordination.k8s.io/v1/namespaces/{quote(self.namespace)}/leases"
        return f"{base}/{quote(name)}" if name else base

    def take(self, client: KubeClient) -> None:
        """Take or renew the Lease; ``LeaseHeld`` when another live holder has it."""
        now = datetime.now(UTC)
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, int(self.ttl.total_seconds())),
            "renewTime": _micro(now),
        }
        try:
            lease = client.get(self.path(self.name))
        except KubeNotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {**spec, "acquireTime": _micro(now), "leaseTransitions": 0},
            }
            try:
                client.send("POST", self.path(), body)
                return
            except KubeConflict:
                lease = client.get(self.path(self.name))
        current: dict[str, Any] = lease.get("spec") or {}
        holder = current.get("holderIdentity")
        if holder and holder != self.identity:
            renewed = _parse(current.get("renewTime")) or now
            expires = renewed + timedelta(seconds=int(current.get("leaseDurationSeconds") or 0))
            if expires > now and holder_alive(holder):
                raise LeaseHeld(holder, expires)
            spec["acquireTime"] = _micro(now)
            spec["leaseTransitions"] = int(current.get("leaseTransitions") or 0) + 1
        lease["spec"] = {**current, **spec}
        try:
            client.send("PUT", self.path(self.name), lease)  # carries resourceVersion: 409 if it moved
        except KubeConflict:
            raise LeaseHeld("another holder", None) from None

    def give_back(self, client: KubeClient) -> None:
        """Clear the holder if it is still us, so the next one need not wait for the TTL."""
        try:
            lease = client.get(self.path(self.name))
        except KubeNotFound:
            return
        if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        lease["spec"]["holderIdentity"] = None
        try:
            client.send("PUT", self.path(self.name), lease)
        except KubeConflict:
            return


class RunLease:
    """The locks on one run: the store row and a Lease in every cluster the run touches."""

    def __init__(self, store: Store, clients: list[KubeClient], run_id: int, *, ttl: timedelta) -> None:
        self.store, self.clients, self.run_id, self.ttl = store, clients, run_id, ttl
        self.identity = new_identity()
        self.name = f"fleetctl-run-{run_id}"
        self.lease = KubeLease(self.name, self.identity, ttl)

    def acquire(self) -> None:
        """Take every lock, or none: raises ``RunLockedError`` naming the holder."""
        held = claim_run(self.store, self.run_id, self.identity, self.ttl, holder_alive=holder_alive)
        if held:
            raise RunLockedError(
                f"run {self.run_id} is being executed by {held}",
                where=f"run {self.run_id}",
                hint="wait for it, or pause it with: fleetctl upgrade pause " + str(self.run_id),
            )
        taken: list[KubeClient] = []
        try:
            for client in self.clients:
                self._take(client)
                taken.append(client)
        except BaseException:
            for client in taken:
                self.lease.give_back(client)
            release_run(self.store, self.run_id, self.identity)
            raise

    def renew(self) -> bool:
        """Extend every lock; False when one was lost (stop starting work)."""
        if not renew_run(self.store, self.run_id, self.identity, self.ttl):
            return False
        try:
            for client in self.clients:
                self._take(client)
        except RunLockedError:
            return False
        return True

    def release(self) -> None:
        """Give every lock back (best effort: they expire anyway)."""
        for client in self.clients:
            with contextlib.suppress(FleetctlError):
                self.lease.give_back(client)
        release_run(self.store, self.run_id, self.identity)

    def _take(self, client: KubeClient) -> None:
        try:
            self.lease.take(client)
        except LeaseHeld as held:
            where = f"Lease {NAMESPACE}/{self.name} in {client.name}"
            if held.expires is None:
                raise RunLockedError(
                    f"run {self.run_id}: another executor took {where}",
                    where=f"run {self.run_id}",
                    hint="only one executor may run it; check fleetctl upgrade status",
                ) from None
            raise RunLockedError(
                f"run {self.run_id} is being executed by {held.holder} ({where})",
                where=f"run {self.run_id}",
                hint=f"wait until {held.expires:%H:%M:%S}Z, or pause it with: fleetctl upgrade pause {self.run_id}",
            ) from None
