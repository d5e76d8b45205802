"""The simulator's etcd: objects by resource, one resourceVersion counter, and watch history.

Everything runs on one asyncio loop, so nothing here locks. Each object's JSON is cached
as bytes until the object changes, so listing 10,000 nodes is a join of cached bytes.
Watchers get every change as an event; history is kept for a bounded number of changes,
and a watch or continue token older than that gets 410 Gone, as from a compacted etcd.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from simulator.resources import STORAGE_KEY, ResourceType

Obj = dict[str, Any]
StoreKey = tuple[str, str]
ObjKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped


class ApiError(Exception):
    """An error the API answers with a ``Status`` body."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> Obj:
        """The ``Status`` object for the response body."""
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def not_found(rt: ResourceType, name: str) -> ApiError:
    """404 in the API server's words."""
    group = f".{rt.group}" if rt.group else ""
    return ApiError(
        404, "NotFound", f'{rt.plural}{group} "{name}" not found', {"name": name, "group": rt.group, "kind": rt.plural}
    )


def rfc3339(when: datetime) -> str:
    """Kubernetes' timestamp format: second precision, Z suffix."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Entry:
    """A stored object and its cached JSON."""

    obj: Obj
    raw: bytes | None = None

    def json(self) -> bytes:
        """The object's JSON, cached until it changes."""
        if self.raw is None:
            self.raw = json.dumps(self.obj, separators=(",", ":")).encode()
        return self.raw

    def copy(self) -> Obj:
        """A deep copy, cheaply, through the cached JSON."""
        copied: Obj = json.loads(self.json())
        return copied


@dataclass(frozen=True)
class WatchEvent:
    """One change: ADDED, MODIFIED or DELETED, with the object after (or, for DELETED, last) state."""

    rv: int
    key: StoreKey
    type: str
    entry: Entry
    old: Entry | None


@dataclass(eq=False)  # identity semantics: watchers live in sets
class Watcher:
    """A subscriber to one resource's changes. ``None`` on the queue ends the watch."""

    key: StoreKey
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)
    accepts: Callable[[WatchEvent], bool] | None = None
    """The watch's filter, applied when a change happens: a watch of one node is not woken for
    the changes of the others (the API server's watch cache filters the same way)."""
    index: tuple[str, str] | None = None
    """(field, value) when the watch selects ``metadata.name`` or ``spec.nodeName`` by equality:
    a change is then only offered to the watches of its own object or node, as the API
    server's watch cache indexes them (``accepts`` still decides)."""


class ObjectView(Protocol):
    """What the Kata behaviour needs of a backend: the in-memory ``ObjectStore``, or a
    ``KubeMirror`` of a real API server."""

    rv: int
    listeners: list[Callable[[WatchEvent], None]]

    def get(self, rt: ResourceType, namespace: str, name: str) -> Entry | None: ...
    def require(self, rt: ResourceType, namespace: str, name: str) -> Entry: ...
    def scan(self, rt: ResourceType, namespace: str | None = None) -> Iterator[tuple[ObjKey, Entry]]: ...
    def count(self, rt: ResourceType) -> int: ...
    def create(self, rt: ResourceType, obj: Obj) -> Entry: ...
    def mutate(self, rt: ResourceType, namespace: str, name: str, change: Callable[[Obj], None]) -> Entry: ...
    def delete(self, rt: ResourceType, namespace: str, name: str) -> Entry: ...
    def compact(self) -> int: ...
    def drop_watches(self) -> int: ...


class ObjectStore:
    """Objects, resourceVersions, history and watchers."""

    def __init__(self, *, uid: Callable[[], str], now: Callable[[], datetime], history: int = 100_000) -> None:
        self._uid, self._now = uid, now
        self.rv = 1
        self._objects: dict[StoreKey, dict[ObjKey, Entry]] = {}
        # Each bucket's keys in order, for paged lists. Keys created since are merged in at the next
        # scan; deleted ones stay (a scan skips them) until they are many, then the keys are sorted again.
        self._sorted: dict[StoreKey, list[ObjKey]] = {}
        self._added: dict[StoreKey, list[ObjKey]] = {}
        self._gone: dict[StoreKey, int] = {}
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._compacted_rv = 0  # history holds every change after this resourceVersion
        self._watchers: dict[StoreKey, set[Watcher]] = {}
        self._indexed: dict[StoreKey, dict[tuple[str, str], set[Watcher]]] = {}  # by (field, value)
        self.listeners: list[Callable[[WatchEvent], None]] = []  # in-process controllers

    # -- reads ---------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> Entry | None:
        """The stored entry, or None."""
        return self._bucket(rt).get((namespace if rt.namespaced else "", name))

    def require(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        """The stored entry, or a 404 ``ApiError``."""
        entry = self.get(rt, namespace, name)
        if entry is None:
            raise not_found(rt, name)
        return entry

    def scan(
        self, rt: ResourceType, namespace: str | None = None, start_after: ObjKey | None = None
    ) -> Iterator[tuple[ObjKey, Entry]]:
        """Entries in key order (namespace, name), optionally within a namespace and after a key."""
        key = STORAGE_KEY.get(rt.key, rt.key)
        bucket = self._objects.get(key, {})
        order = self._order(key, bucket)
        lo = 0
        if start_after is not None:
            lo = bisect.bisect_right(order, start_after)
        elif namespace:
            lo = bisect.bisect_left(order, (namespace, ""))
        for k in order[lo:]:
            if namespace and k[0] != namespace:
                if k[0] > namespace:
                    return
                continue
            entry = bucket.get(k)
            if entry is not None:
                yield k, entry

    def _order(self, key: StoreKey, bucket: dict[ObjKey, Entry]) -> list[ObjKey]:
        """The bucket's keys in order: sorted once, then kept by merging the few created since."""
        order, added = self._sorted.get(key), self._added.pop(key, [])
        churn = len(added) + self._gone.get(key, 0)
        if order is None or churn > 64 + len(order) // 8:
            self._gone.pop(key, None)
            order = self._sorted[key] = sorted(bucket)
            return order
        for k in added:
            i = bisect.bisect_left(order, k)
            if i == len(order) or order[i] != k:  # a key deleted and created again is still there
                order.insert(i, k)
        return order

    def new_uid(self) -> str:
        """A uid from the server's stream (for an object whose uid is needed before it is stored)."""
        return self._uid()

    def count(self, rt: ResourceType) -> int:
        """How many objects of this resource exist."""
        return len(self._bucket(rt))

    # -- writes --------------------------------------------------------------------------

    def create(self, rt: ResourceType, obj: Obj) -> Entry:
        """Store a new object; fills uid, resourceVersion, creationTimestamp and generation."""
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["name"] = meta["generateName"] + self._uid()[:5]
        if not name:
            raise ApiError(
                422, "Invalid", f"{rt.kind} is invalid: metadata.name: Required value: name or generateName is required"
            )
        ns = meta.get("namespace", "") if rt.namespaced else ""
        if rt.namespaced and not ns:
            raise ApiError(422, "Invalid", f"{rt.kind} is invalid: metadata.namespace: Required value")
        bucket = self._bucket(rt)
        if (ns, name) in bucket:
            group = f".{rt.group}" if rt.group else ""
            raise ApiError(
                409, "AlreadyExists", f'{rt.plural}{group} "{name}" already exists', {"name": name, "kind": rt.plural}
            )
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        meta.setdefault("uid", self._uid())
        meta.setdefault("creationTimestamp", rfc3339(self._now()))
        if "spec" in obj and rt.kind in ("DaemonSet", "PodDisruptionBudget", "Job"):
            meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(self._bump())
        entry = Entry(obj)
        bucket[(ns, name)] = entry
        if STORAGE_KEY.get(rt.key, rt.key) in self._sorted:
            self._added.setdefault(STORAGE_KEY.get(rt.key, rt.key), []).append((ns, name))
        self._emit(rt, "ADDED", entry, None)
        return entry

    def replace(self, rt: ResourceType, obj: Obj, *, expected_rv: str | None = None) -> Entry:
        """Replace an object. A stale ``expected_rv`` is a 409 Conflict, as in the real API."""
        meta = obj.get("metadata") or {}
        ns, name = (meta.get("namespace", "") if rt.namespaced else ""), meta.get("name", "")
        bucket = self._bucket(rt)
        old = bucket.get((ns, name))
        if old is None:
            raise not_found(rt, name)
        old_meta = old.obj["metadata"]
        if expected_rv and expected_rv != old_meta["resourceVersion"]:
            group = f".{rt.group}" if rt.group else ""
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rt.plural}{group} "{name}": '
                "the object has been modified; please apply your changes to the latest version and try again",
                {"name": name, "group": rt.group, "kind": rt.plural},
            )
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        for immutable in ("uid", "creationTimestamp", "namespace", "name"):
            if immutable in old_meta:
                meta[immutable] = old_meta[immutable]
        if "generation" in old_meta:
            changed = obj.get("spec") != old.obj.get("spec")
            meta["generation"] = old_meta["generation"] + (1 if changed else 0)
        obj["metadata"] = meta
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if obj == old.obj:
            return old  # a no-op write changes nothing, not even the resourceVersion
        meta["resourceVersion"] = str(self._bump())
        entry = Entry(obj)
        bucket[(ns, name)] = entry
        self._emit(rt, "MODIFIED", entry, old)
        return entry

    def mutate(self, rt: ResourceType, namespace: str, name: str, change: Callable[[Obj], None]) -> Entry:
        """Apply ``change`` to a copy of the object and store it (for the simulator's controllers)."""
        current = self.require(rt, namespace, name)
        obj = current.copy()
        change(obj)
        if obj == current.obj:
            return current
        obj["metadata"]["resourceVersion"] = current.obj["metadata"]["resourceVersion"]
        return self.replace(rt, obj)

    def delete(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        """Remove an object now; watchers see DELETED with its last state."""
        bucket = self._bucket(rt)
        key = (namespace if rt.namespaced else "", name)
        old = bucket.pop(key, None)
        if old is None:
            raise not_found(rt, name)
        store_key = STORAGE_KEY.get(rt.key, rt.key)
        if store_key in self._sorted:
            self._gone[store_key] = self._gone.get(store_key, 0) + 1  # its key stays until a re-sort; scans skip it
        obj = old.copy()
        obj["metadata"]["resourceVersion"] = str(self._bump())
        entry = Entry(obj)
        self._emit(rt, "DELETED", entry, old)
        return entry

    # -- watching ------------------------------------------------------------------------

    def history_since(self, rt: ResourceType, rv: int, index: tuple[str, str] | None = None) -> list[WatchEvent]:
        """Changes of ``rt`` after ``rv`` (only those of one object or node, with ``index``);
        410 Gone when history no longer reaches back that far."""
        if rv < self._compacted_rv:
            raise ApiError(410, "Expired", f"too old resource version: {rv} ({self._compacted_rv + 1})")
        key = STORAGE_KEY.get(rt.key, rt.key)
        found = []
        for event in reversed(self._history):  # newest first: a watch mostly starts from a recent list
            if event.rv <= rv:
                break
            if event.key == key and (index is None or _indexed_by(event, index)):
                found.append(event)
        found.reverse()
        return found

    def subscribe(self, watcher: Watcher) -> None:
        """Start delivering changes to ``watcher``."""
        if watcher.index is None:
            self._watchers.setdefault(watcher.key, set()).add(watcher)
        else:
            self._indexed.setdefault(watcher.key, {}).setdefault(watcher.index, set()).add(watcher)

    def unsubscribe(self, watcher: Watcher) -> None:
        """Stop delivering changes to ``watcher``."""
        if watcher.index is None:
            self._watchers.get(watcher.key, set()).discard(watcher)
            return
        by_value = self._indexed.get(watcher.key, {})
        watchers = by_value.get(watcher.index)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del by_value[watcher.index]

    def watchers(self, key: StoreKey) -> list[Watcher]:
        """Every watch of ``key``, indexed or not."""
        indexed = [w for ws in self._indexed.get(key, {}).values() for w in ws]
        return [*self._watchers.get(key, ()), *indexed]

    def compact(self) -> int:
        """Forget all history (as etcd compaction does); returns the compaction revision."""
        self._history.clear()
        self._compacted_rv = self.rv
        return self._compacted_rv

    def drop_watches(self) -> int:
        """End every open watch now, as a restarting API server would; returns how many."""
        every = [w for key in {*self._watchers, *self._indexed} for w in self.watchers(key)]
        for w in every:
            w.queue.put_nowait(None)
        return len(every)

    def continue_token(self, rv: int, last: ObjKey) -> str:
        """An opaque continue token (the real one is base64 JSON too)."""
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{last[0]}/{last[1]}"}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def parse_continue(self, token: str) -> tuple[int, ObjKey]:
        """Decode a continue token; 400 when garbled, 410 when older than history."""
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            rv, start = int(data["rv"]), str(data["start"])
            ns, _, name = start.partition("/")
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(400, "BadRequest", f"continue key is not valid: {exc}") from None
        if rv < self._compacted_rv:
            raise ApiError(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter.",
            )
        return rv, (ns, name)

    # -- internals -----------------------------------------------------------------------

    def _bucket(self, rt: ResourceType) -> dict[ObjKey, Entry]:
        return self._objects.setdefault(STORAGE_KEY.get(rt.key, rt.key), {})

    def _bump(self) -> int:
        self.rv += 1
        return self.rv

    def _emit(self, rt: ResourceType, kind: str, entry: Entry, old: Entry | None) -> None:
        key = STORAGE_KEY.get(rt.key, rt.key)
        event = WatchEvent(self.rv, key, kind, entry, old)
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        self._history.append(event)
        candidates = set(self._watchers.get(key, ()))
        indexed = self._indexed.get(key)
        if indexed:
            for obj in (entry.obj, old.obj) if old is not None else (entry.obj,):
                for field, value in _index_values(obj):
                    candidates |= indexed.get((field, value), set())
        for watcher in candidates:
            if watcher.accepts is None or watcher.accepts(event):
                watcher.queue.put_nowait(event)
        for listener in self.listeners:
            listener(event)


INDEXED_FIELDS = ("metadata.name", "spec.nodeName")


def _index_values(obj: Obj) -> tuple[tuple[str, str], ...]:
    node = (obj.get("spec") or {}).get("nodeName")
    name = ("metadata.name", obj["metadata"]["name"])
    return (name, ("spec.nodeName", node)) if node else (name,)


def _indexed_by(event: WatchEvent, index: tuple[str, str]) -> bool:
    """Whether the event's object, before or after, has ``index``'s field value."""
    objs = (event.entry.obj, event.old.obj) if event.old is not None else (event.entry.obj,)
    return any(index in _index_values(obj) for obj in objs)
