"""The world's window on a real API server: a watch-fed cache of what it reads, and writes sent at once.

``KubeMirror`` offers the ``ObjectStore`` methods that the Kata behaviour uses (``get``,
``require``, ``scan``, ``count``, ``create``, ``mutate``, ``delete`` and ``listeners``), so the same
kubelet, kata-deploy and kata-monitor code drives either backend. Reads come from the cache,
which watches keep current (list, then watch from its resourceVersion, relist on 410). A write
goes out as a merge patch of exactly what changed (metadata and spec to the object, status to
its ``/status`` subresource) and its answer goes into the cache at once; a watch event older
than what the cache holds is dropped, so our own writes never flicker back.

The HTTP is blocking and short (loopback), run on the world's loop, so behaviour sees its own
writes in order; the watches run on threads and hand their events to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from simulator import resources as r
from simulator.objectstore import ApiError, Entry, Obj, ObjKey, StoreKey, WatchEvent
from simulator.resources import STORAGE_KEY, ResourceType

WATCHED = (r.NODES, r.PODS, r.DAEMONSETS, r.RUNTIMECLASSES, r.PDBS, r.PEERPODS)
_STATUS_SUBRESOURCE = {r.NODES.key, r.PODS.key, r.DAEMONSETS.key, r.PDBS.key}


def path_of(rt: ResourceType, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
    """The REST path of a collection, an object or its subresource."""
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    if rt.namespaced and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{rt.plural}"
    if name:
        base += f"/{name}"
    if sub:
        base += f"/{sub}"
    return base


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns ``old`` into ``new`` (lists are replaced whole)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value)
    return patch


class KubeHTTP:
    """Blocking HTTPS to one API server with a bearer token: a keep-alive connection per thread."""

    def __init__(self, url: str, token: str, ca_path: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 443
        self.token = token
        self.ctx = ssl.create_default_context(cafile=ca_path)
        self._local = threading.local()
        self._open: set[http.client.HTTPSConnection] = set()
        self._lock = threading.Lock()

    def _connection(self, timeout: float | None = 60) -> http.client.HTTPSConnection:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
        with self._lock:
            self._open.add(conn)
        return conn

    def _forget(self, conn: http.client.HTTPSConnection) -> None:
        conn.close()
        with self._lock:
            self._open.discard(conn)

    def close(self) -> None:
        """Close every connection, waking the watches blocked on theirs."""
        with self._lock:
            conns = list(self._open)
            self._open.clear()
        for conn in conns:
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
            conn.close()

    def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> tuple[int, Obj]:
        """Send one request; (status, decoded body). Retries once on a dropped keep-alive connection."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (http.client.HTTPException, OSError):
                self._forget(conn)
                self._local.conn = None
                if attempt == 2:
                    raise
                continue
            decoded: Obj = json.loads(raw) if raw else {}
            return response.status, decoded
        raise AssertionError("unreachable")

    def checked(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json") -> Obj:
        """``request``, with an error status raised as ``ApiError`` carrying the server's words."""
        status, decoded = self.request(method, path, body, content_type=content_type)
        if status >= 400:
            raise ApiError(status, str(decoded.get("reason", "")), str(decoded.get("message", decoded)))
        return decoded

    def watch_lines(self, path: str, timeout_s: int) -> Iterator[Obj]:
        """The events of one watch request, as they arrive (its own connection)."""
        conn = self._connection(timeout=timeout_s + 30)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"})
            response = conn.getresponse()
            if response.status >= 400:
                body = json.loads(response.read() or b"{}")
                raise ApiError(response.status, str(body.get("reason", "")), str(body.get("message", body)))
            while line := response.readline():
                if line.strip():
                    yield json.loads(line)
        finally:
            self._forget(conn)


class KubeMirror:
    """The ``ObjectStore`` face of a real API server (see the module docstring)."""

    def __init__(self, http: KubeHTTP | None = None, kinds: tuple[ResourceType, ...] = WATCHED) -> None:
        self._http = http
        self.kinds = kinds
        self.rv = 0
        self.listeners: list[Callable[[WatchEvent], None]] = []
        self._objects: dict[StoreKey, dict[ObjKey, Entry]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.relists = 0
        self._batch: dict[tuple[StoreKey, ObjKey], tuple[ResourceType, Entry]] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def connect(self, http: KubeHTTP) -> None:
        """Talk to this server (a mirror is made before its control plane has started)."""
        self._http = http

    def http_client(self) -> KubeHTTP:
        """The connection to the server."""
        if self._http is None:
            raise RuntimeError("the mirror is not connected to an API server yet")
        return self._http

    @property
    def http(self) -> KubeHTTP:
        """The connection to the server."""
        return self.http_client()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """List every watched kind into the cache, then keep it current from watch threads."""
        self._loop = loop
        for rt in self.kinds:
            rv = self._relist(rt, deliver=False)
            thread = threading.Thread(
                target=self._watch_forever, args=(rt, rv), name=f"mirror-{rt.plural}", daemon=True
            )
            self._threads.append(thread)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop watching: the watch threads wake on their closed connections and end."""
        self._stop.set()
        if self._http is not None:
            self._http.close()
        for thread in self._threads:
            thread.join(timeout=10)

    def _relist(self, rt: ResourceType, *, deliver: bool) -> str:
        items: list[Obj] = []
        token = ""
        while True:
            query = "?limit=500" + (f"&continue={urllib.parse.quote(token)}" if token else "")
            page = self.http.checked("GET", path_of(rt) + query)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                break
        rv = str((page.get("metadata") or {}).get("resourceVersion") or "0")
        for item in items:
            item.setdefault("apiVersion", rt.api_version)
            item.setdefault("kind", rt.kind)
        if deliver and self._loop is not None:
            self._loop.call_soon_threadsafe(self._replace_all, rt, items)
        else:
            self._replace_all(rt, items)
        return rv

    def _watch_forever(self, rt: ResourceType, rv: str) -> None:
        while not self._stop.is_set():
            query = f"?watch=true&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion={rv}"
            try:
                for event in self.http.watch_lines(path_of(rt) + query, 300):
                    if self._stop.is_set():
                        return
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            self.relists += 1
                            rv = self._relist(rt, deliver=True)
                        break
                    rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                    if kind in ("ADDED", "MODIFIED", "DELETED") and self._loop is not None:
                        obj.setdefault("apiVersion", rt.api_version)
                        obj.setdefault("kind", rt.kind)
                        self._loop.call_soon_threadsafe(self._apply, rt, str(kind), obj)
            except ApiError as exc:
                if exc.code == 410:
                    self.relists += 1
                    rv = self._relist(rt, deliver=True)
                else:
                    time.sleep(1)  # back-off: the server is restarting or refusing us
            except (OSError, http.client.HTTPException, ValueError, AttributeError):  # AttributeError: closed under us
                if self._stop.is_set() or self._loop is None or self._loop.is_closed():
                    return
                time.sleep(1)  # back-off, then watch again from the last resourceVersion

    # -- the cache -----------------------------------------------------------------------

    def _bucket(self, rt: ResourceType) -> dict[ObjKey, Entry]:
        return self._objects.setdefault(STORAGE_KEY.get(rt.key, rt.key), {})

    @staticmethod
    def _key(rt: ResourceType, obj: Obj) -> ObjKey:
        meta = obj["metadata"]
        return (meta.get("namespace", "") if rt.namespaced else "", meta["name"])

    @staticmethod
    def _rv(obj: Obj) -> int:
        try:
            return int(obj["metadata"].get("resourceVersion") or 0)
        except (TypeError, ValueError):
            return 0

    def _apply(self, rt: ResourceType, kind: str, obj: Obj) -> None:
        """A watch event (on the loop): into the cache unless the cache already holds newer."""
        bucket, key = self._bucket(rt), self._key(rt, obj)
        old = bucket.get(key)
        rv = self._rv(obj)
        self.rv = max(self.rv, rv)
        if old is not None and self._rv(old.obj) >= rv:
            return  # our own write's answer, already in the cache
        if kind == "DELETED":
            if old is None or old.obj["metadata"].get("uid") != obj["metadata"].get("uid"):
                return
            del bucket[key]
            self._emit(rt, "DELETED", Entry(obj), old)
            return
        if old is not None and old.obj["metadata"].get("uid") != obj["metadata"].get("uid"):
            del bucket[key]
            self._emit(rt, "DELETED", old, old)
            old = None
        entry = Entry(obj)
        bucket[key] = entry
        self._emit(rt, "ADDED" if old is None else "MODIFIED", entry, old)

    def _replace_all(self, rt: ResourceType, items: list[Obj]) -> None:
        bucket = self._bucket(rt)
        fresh = {self._key(rt, obj): obj for obj in items}
        for key in list(bucket):
            if key not in fresh:
                old = bucket.pop(key)
                self._emit(rt, "DELETED", old, old)
        for obj in items:
            self._apply(rt, "MODIFIED", obj)

    def _emit(self, rt: ResourceType, kind: str, entry: Entry, old: Entry | None) -> None:
        event = WatchEvent(self.rv, STORAGE_KEY.get(rt.key, rt.key), kind, entry, old)
        for listener in self.listeners:
            listener(event)

    def _store(self, rt: ResourceType, obj: Obj) -> Entry:
        obj.setdefault("apiVersion", rt.api_version)
        obj.setdefault("kind", rt.kind)
        self._apply(rt, "MODIFIED", obj)
        return self._bucket(rt).get(self._key(rt, obj)) or Entry(obj)

    # -- the ObjectStore face ------------------------------------------------------------

    @contextlib.contextmanager
    def batched(self, workers: int = 8) -> Iterator[None]:
        """Creates inside are sent together at the end, ``workers`` at a time (a fleet's objects at
        the start). Until then an object is only in the batch: reads see it, without its uid; an
        owner reference to a Pod in the batch gets the pod's uid when the pod is created."""
        self._batch = {}
        try:
            yield
        finally:
            batch, self._batch = self._batch, None
            self._flush(list(batch.values()), workers)

    def _flush(self, batch: list[tuple[ResourceType, Entry]], workers: int) -> None:
        import concurrent.futures

        def pod_owned(entry: Entry) -> bool:
            return any(ref.get("kind") == "Pod" for ref in entry.obj["metadata"].get("ownerReferences") or [])

        first = [(rt, e) for rt, e in batch if not pod_owned(e)]
        for group in (first, [(rt, e) for rt, e in batch if pod_owned(e)]):
            for _, entry in group:
                for ref in entry.obj["metadata"].get("ownerReferences") or []:
                    if ref.get("kind") == "Pod" and not ref.get("uid"):
                        pod = self._bucket(r.PODS).get((entry.obj["metadata"].get("namespace", ""), ref["name"]))
                        ref["uid"] = pod.obj["metadata"]["uid"] if pod else ""
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
                created = list(pool.map(lambda item: self._send_create(*item), group))
            for (rt, entry), answer in zip(group, created, strict=True):
                entry.obj["metadata"].update(answer["metadata"])  # the batch's readers hold this dict
                self._store(rt, answer)

    def get(self, rt: ResourceType, namespace: str, name: str) -> Entry | None:
        """The cached entry, or None (a kind that is not watched is read from the server)."""
        if self._batch is not None:
            queued = self._batch.get((STORAGE_KEY.get(rt.key, rt.key), (namespace if rt.namespaced else "", name)))
            if queued is not None:
                return queued[1]
        if STORAGE_KEY.get(rt.key, rt.key) not in {STORAGE_KEY.get(k.key, k.key) for k in self.kinds}:
            status, obj = self.http.request("GET", path_of(rt, namespace, name))
            return Entry(obj) if status == 200 else None
        return self._bucket(rt).get((namespace if rt.namespaced else "", name))

    def require(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        """The cached entry, or a 404 ``ApiError``."""
        entry = self.get(rt, namespace, name)
        if entry is None:
            raise ApiError(404, "NotFound", f'{rt.plural} "{name}" not found')
        return entry

    def scan(self, rt: ResourceType, namespace: str | None = None) -> Iterator[tuple[ObjKey, Entry]]:
        """Cached entries in key order, optionally within a namespace."""
        bucket = self._bucket(rt)
        for key in sorted(bucket):
            if namespace and key[0] != namespace:
                continue
            entry = bucket.get(key)
            if entry is not None:
                yield key, entry

    def count(self, rt: ResourceType) -> int:
        """How many objects of this kind the cache holds."""
        return len(self._bucket(rt))

    def create(self, rt: ResourceType, obj: Obj) -> Entry:
        """POST the object; a status it carries goes to the ``/status`` subresource next, as a
        kubelet reports it (the API server drops status on create)."""
        if self._batch is not None:
            entry = Entry(obj)
            self._batch[(STORAGE_KEY.get(rt.key, rt.key), self._key(rt, obj))] = (rt, entry)
            return entry
        return self._store(rt, self._send_create(rt, Entry(obj)))

    def _send_create(self, rt: ResourceType, entry: Entry) -> Obj:
        obj = entry.obj
        namespace = obj["metadata"].get("namespace") if rt.namespaced else None
        body = {k: v for k, v in obj.items() if k != "status"}
        created = self.http.checked("POST", path_of(rt, namespace), body)
        status = obj.get("status")
        if status and rt.key in _STATUS_SUBRESOURCE:
            created = self.http.checked(
                "PATCH",
                path_of(rt, namespace, created["metadata"]["name"], "status"),
                {"status": status},
                content_type="application/merge-patch+json",
            )
        return created

    def mutate(self, rt: ResourceType, namespace: str, name: str, change: Callable[[Obj], None]) -> Entry:
        """Apply ``change`` to a copy of the cached object and send what changed."""
        current = self.require(rt, namespace, name)
        obj = current.copy()
        change(obj)
        if obj == current.obj:
            return current
        ns = namespace if rt.namespaced else None
        main = merge_patch(
            {k: v for k, v in current.obj.items() if k != "status"}, {k: v for k, v in obj.items() if k != "status"}
        )
        answer: Obj | None = None
        if main:
            main.get("metadata", {}).pop("resourceVersion", None)
            answer = self.http.checked(
                "PATCH", path_of(rt, ns, name), main, content_type="application/merge-patch+json"
            )
        if obj.get("status") != current.obj.get("status"):
            sub = "status" if rt.key in _STATUS_SUBRESOURCE else None
            patch = {"status": merge_patch(current.obj.get("status") or {}, obj.get("status") or {})}
            answer = self.http.checked("PATCH", path_of(rt, ns, name, sub), patch, content_type="application/merge-patch+json")  # fmt: skip
        return self._store(rt, answer) if answer else current

    def delete(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        """Delete now (grace period 0, as a kubelet's final delete); watchers see DELETED."""
        ns = namespace if rt.namespaced else None
        status, answer = self.http.request("DELETE", path_of(rt, ns, name), {"gracePeriodSeconds": 0})
        if status >= 400 and status != 404:  # a 404: gone already (the garbage collector, a controller)
            raise ApiError(status, str(answer.get("reason", "")), str(answer.get("message", answer)))
        bucket, key = self._bucket(rt), (namespace if rt.namespaced else "", name)
        old = bucket.pop(key, None)
        last = answer if answer.get("kind") == rt.kind else (old.obj if old else {"metadata": {"name": name}})
        entry = Entry(last)
        if old is not None:
            self._emit(rt, "DELETED", entry, old)
        return entry

    def compact(self) -> int:
        """Not on a real server: etcd compacts on its own schedule."""
        raise ApiError(501, "NotImplemented", "history compaction is an in-memory simulator fault")

    def drop_watches(self) -> int:
        """Not on a real server."""
        raise ApiError(501, "NotImplemented", "dropping watches is an in-memory simulator fault")


@contextlib.contextmanager
def suppressed_api_errors(*codes: int) -> Iterator[None]:
    """Ignore ``ApiError``s with these codes (a 404 for an object gone meanwhile, a 409 already there)."""
    try:
        yield
    except ApiError as exc:
        if exc.code not in codes:
            raise
