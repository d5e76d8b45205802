"""The Kubernetes API over HTTP: discovery, CRUD, patch, watch, eviction, tables.

Every error is a ``Status`` object with the code and reason a real API server would give.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from simulator import builders, disruption, jobs, kubelet, protobuf, routing, tables
from simulator import resources as r
from simulator.objectstore import ApiError, Entry, Obj, Watcher, WatchEvent
from simulator.patching import PatchError, json_patch, merge_patch, strategic_merge_patch
from simulator.protobuf import ProtobufError
from simulator.reviews import USER, review
from simulator.selectors import SelectorError, fields_match, labels_match, parse_field_selector, parse_label_selector

if TYPE_CHECKING:
    from simulator.world import World

JSON = "application/json"
_PATCHERS = {
    "application/json-patch+json": json_patch,
    "application/merge-patch+json": merge_patch,
    "application/strategic-merge-patch+json": strategic_merge_patch,
}
_STATUS_KINDS = {"Node", "Pod", "DaemonSet", "PodDisruptionBudget", "Namespace", "Job"}  # have a status subresource
MAX_LIMIT = 5000
_STREAM_ABOVE = 2000  # lists longer than this are written in chunks of this many items


def status_response(err: ApiError) -> web.Response:
    """An error as the API server sends it."""
    return web.Response(status=err.code, body=json.dumps(err.status()).encode(), content_type=JSON)


def json_response(obj: Any, status: int = 200) -> web.Response:
    """A JSON body."""
    return web.Response(status=status, body=json.dumps(obj, separators=(",", ":")).encode(), content_type=JSON)


_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def _forbidden(target: routing.Target, method: str, *, watch: bool) -> ApiError:
    """The 403 kube-apiserver's RBAC answers a call it does not allow (the ``api.forbidden`` fault)."""
    rt = target.rt
    verb = ("watch" if watch else "list") if target.name is None and method == "GET" else _VERBS.get(method, method)
    scope = f'in the namespace "{target.namespace}"' if target.namespace else "at the cluster scope"
    resource = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
    named = f' "{target.name}"' if target.name else ""
    message = (
        f'{resource}{named} is forbidden: User "{USER["username"]}" cannot {verb} resource "{rt.plural}" '
        f'in API group "{rt.group}" {scope}'
    )
    details = {"group": rt.group, "kind": rt.plural, **({"name": target.name} if target.name else {})}
    return ApiError(403, "Forbidden", message, details)


class Api:
    """Request handlers bound to one world."""

    def __init__(self, world: World, *, bookmark_seconds: float = 2.0) -> None:
        self.world = world
        self.store = world.memory_store()
        self.bookmark_seconds = bookmark_seconds

    # -- discovery -----------------------------------------------------------------------

    async def version(self, request: web.Request) -> web.Response:
        """GET /version."""
        return json_response(
            {
                "major": "1",
                "minor": "37",
                "emulationMajor": "1",
                "emulationMinor": "37",
                "minCompatibilityMajor": "1",
                "minCompatibilityMinor": "36",
                "gitVersion": "v1.37.2-fleetctl-sim",  # the real control plane's version (tools/k8s)
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean",
                "buildDate": "2026-11-01T00:00:00Z",
                "goVersion": "go1.26.8",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        )

    async def api_versions(self, request: web.Request) -> web.Response:
        """GET /api (aggregated discovery when the client asks for it, as kubectl does)."""
        if _wants_aggregated(request):
            return _aggregated_response(r.aggregated(core=True))
        host = request.host
        return json_response(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
            }
        )

    async def api_groups(self, request: web.Request) -> web.Response:
        """GET /apis (aggregated discovery when the client asks for it)."""
        if _wants_aggregated(request):
            return _aggregated_response(r.aggregated(core=False))
        return json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in _groups()]})

    async def api_group(self, request: web.Request) -> web.Response:
        """GET /apis/GROUP."""
        group = request.match_info["group"]
        if group not in _groups():
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return json_response({"kind": "APIGroup", "apiVersion": "v1", **_group(group)})

    async def resource_list(self, request: web.Request) -> web.Response:
        """GET /api/v1 and /apis/GROUP/VERSION."""
        group, version = request.match_info.get("group", ""), request.match_info["version"]
        api_version = f"{group}/{version}" if group else version
        if api_version not in r.by_group_version():
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return json_response(r.resource_list(api_version))

    # -- resources -----------------------------------------------------------------------

    async def resource(self, request: web.Request) -> web.StreamResponse:
        """Every ``/api/v1/...`` and ``/apis/G/V/...`` resource path."""
        target = routing.parse(request.path)
        method = request.method
        if target.rt.plural in self.world.faults.api.forbidden:
            raise _forbidden(target, method, watch=request.query.get("watch") in ("true", "1"))
        if target.name is None:
            if method == "GET":
                if request.query.get("watch") in ("true", "1"):
                    return await self._watch(request, target)
                return await self._list(request, target)
            if method == "POST" and target.rt in r.REVIEWS:
                return json_response(review(target.rt, await _body(request)), 201)
            if method == "POST":
                return self._create(target, await _body(request), dry_run=_dry_run(request))
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if target.subresource == "eviction":
            if method != "POST":
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            body = await _body(request)
            dry = _dry_run(request) or "All" in ((body.get("deleteOptions") or {}).get("dryRun") or [])
            disruption.evict(self.world, target.namespace or "", target.name, body, dry_run=dry)
            return json_response(
                {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201
            )
        if target.subresource in ("log", "proxy"):
            return web.Response(text="", content_type="text/plain")
        if method == "GET":
            entry = self.store.require(target.rt, target.namespace or "", target.name)
            if _wants_table(request):
                obj = self._view(target.rt, entry)
                return json_response(
                    tables.table(
                        target.rt.kind,
                        [obj],
                        include=request.query.get("includeObject", "Metadata"),
                        resource_version=obj["metadata"]["resourceVersion"],
                    )
                )
            return self._object_response(target.rt, entry)
        if method == "PUT":
            return self._replace(target, await _body(request), dry_run=_dry_run(request))
        if method == "PATCH":
            return await self._patch(request, target)
        if method == "DELETE":
            return await self._delete(request, target)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _view(self, rt: r.ResourceType, entry: Entry) -> Obj:
        return builders.events_v1_view(entry.obj) if rt is r.EVENTS_V1 else entry.obj

    def _node_pods(
        self, node: str, namespace: str | None, start_after: tuple[str, str] | None
    ) -> Iterator[tuple[tuple[str, str], Entry]]:
        """Pods bound to ``node`` in key order: the index an API server's watch cache keeps for spec.nodeName."""
        for key in sorted(self.world.pods_by_node.get(node, ())):
            if (namespace and key[0] != namespace) or (start_after is not None and key <= start_after):
                continue
            entry = self.store.get(r.PODS, *key)
            if entry is not None:
                yield key, entry

    def _object_response(self, rt: r.ResourceType, entry: Entry, status: int = 200) -> web.Response:
        if rt is r.EVENTS_V1:
            return json_response(builders.events_v1_view(entry.obj), status)
        return web.Response(status=status, body=entry.json(), content_type=JSON)

    def _filters(self, request: web.Request, rt: r.ResourceType) -> tuple[Any, Any]:
        try:
            labels = parse_label_selector(request.query.get("labelSelector"))
            fields = parse_field_selector(request.query.get("fieldSelector"), rt.fields, rt.kind)
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from None
        return labels, fields

    async def _list(self, request: web.Request, target: routing.Target) -> web.StreamResponse:
        rt = target.rt
        labels, fields = self._filters(request, rt)
        limit = _int_param(request, "limit", 0)
        limit = min(limit, MAX_LIMIT) if limit > 0 else 0
        token = request.query.get("continue")
        start_after = None
        list_rv = self.store.rv
        if token:
            list_rv, start_after = self.store.parse_continue(token)
        items: list[Entry] = []
        last_key = None
        more = False
        node = _node_name(rt, fields)
        source = (
            self._node_pods(node, target.namespace, start_after)
            if node is not None
            else self.store.scan(rt, target.namespace, start_after)
        )
        for key, entry in source:
            obj = entry.obj
            if not labels_match(labels, obj["metadata"].get("labels")) or not fields_match(fields, obj):
                continue
            if limit and len(items) == limit:
                more = True
                break
            items.append(entry)
            last_key = key
        next_token = self.store.continue_token(list_rv, last_key) if more and last_key else None
        if _wants_table(request):
            objs = [self._view(rt, e) for e in items]
            return json_response(
                tables.table(
                    rt.kind,
                    objs,
                    include=request.query.get("includeObject", "Metadata"),
                    resource_version=str(list_rv),
                    continue_token=next_token,
                )
            )
        meta: Obj = {"resourceVersion": str(list_rv)}
        if next_token:
            meta["continue"] = next_token
        head = json.dumps(
            {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta}, separators=(",", ":")
        ).encode()

        def raw(e: Entry) -> bytes:
            return (
                json.dumps(builders.events_v1_view(e.obj), separators=(",", ":")).encode()
                if rt is r.EVENTS_V1
                else e.json()
            )

        if len(items) <= _STREAM_ABOVE:
            body = head[:-1] + b',"items":[' + b",".join(raw(e) for e in items) + b"]}"
            return web.Response(body=body, content_type=JSON)
        # A big unpaged list goes out in chunks, so the server never holds the whole body twice.
        response = web.StreamResponse(headers={"Content-Type": JSON})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(head[:-1] + b',"items":[')
        for start in range(0, len(items), _STREAM_ABOVE):
            chunk = b",".join(raw(e) for e in items[start : start + _STREAM_ABOVE])
            await response.write((b"," if start else b"") + chunk)
        await response.write(b"]}")
        await response.write_eof()
        return response

    def _create(self, target: routing.Target, body: Obj, *, dry_run: bool) -> web.Response:
        rt = target.rt
        _check_kind(rt, body)
        if rt is r.EVENTS_V1:
            raise ApiError(405, "MethodNotAllowed", "create events through core/v1 in this simulator")
        meta = body.setdefault("metadata", {})
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != target.namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            meta["namespace"] = target.namespace
            if self.store.get(r.NAMESPACES, "", target.namespace or "") is None:
                raise ApiError(
                    404,
                    "NotFound",
                    f'namespaces "{target.namespace}" not found',
                    {"name": target.namespace, "kind": "namespaces"},
                )
        if rt is r.PODS:
            _validate_pod(body)
        if rt is r.JOBS:
            jobs.admit(body, self.store.new_uid())
        if dry_run:
            return json_response(body, 201)
        if rt is r.PODS:
            body["status"] = {
                "phase": "Pending",
                "qosClass": builders.qos_class(body.get("spec") or {}),
            }  # the kubelet owns pod status
        entry = self.store.create(rt, body)
        if rt is r.NAMESPACES:  # the service-account controller's part: every namespace has its default
            self.store.create(r.SERVICEACCOUNTS, builders.service_account("default", meta["name"]))
        if rt is r.PODS:
            self.world.spawn(kubelet.start_pod(self.world, meta["namespace"], meta["name"]))
        return self._object_response(rt, entry, 201)

    def _merge_for_write(self, target: routing.Target, old: Obj, new: Obj) -> Obj:
        """The status subresource writes only status; the main resource never writes status."""
        if target.rt.kind not in _STATUS_KINDS:
            return new
        if target.subresource == "status":
            merged: Obj = json.loads(json.dumps(old))
            merged["status"] = new.get("status", {})
            merged["metadata"]["resourceVersion"] = new.get("metadata", {}).get(
                "resourceVersion", old["metadata"]["resourceVersion"]
            )
            return merged
        new["status"] = old.get("status", {})
        return new

    def _replace(self, target: routing.Target, body: Obj, *, dry_run: bool) -> web.Response:
        rt = target.rt
        _check_kind(rt, body)
        meta = body.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != target.name:
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta['name']}) does not match the name on the URL ({target.name})",
            )
        meta["name"] = target.name
        if rt.namespaced:
            meta["namespace"] = target.namespace
        old = self.store.require(rt, target.namespace or "", target.name or "")
        expected = meta.get("resourceVersion")
        obj = self._merge_for_write(target, old.obj, body)
        if dry_run:
            return json_response(obj)
        entry = self.store.replace(rt, obj, expected_rv=expected or None)
        return self._object_response(rt, entry)

    async def _patch(self, request: web.Request, target: routing.Target) -> web.Response:
        rt = target.rt
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        patcher = _PATCHERS.get(content_type)
        if patcher is None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: {', '.join(_PATCHERS)}",
            )
        try:
            patch = json.loads(await request.read() or b"null")
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"error decoding patch: {exc}") from None
        old = self.store.require(rt, target.namespace or "", target.name or "")
        try:
            patched = patcher(old.copy(), patch)
        except PatchError as exc:
            raise ApiError(
                422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
            ) from None
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise ApiError(422, "Invalid", "the patch would leave no object")
        expected = (
            patch.get("metadata", {}).get("resourceVersion")
            if isinstance(patch, dict) and isinstance(patch.get("metadata"), dict)
            else None
        )
        patched["metadata"]["name"], patched["metadata"]["uid"] = (
            old.obj["metadata"]["name"],
            old.obj["metadata"]["uid"],
        )
        patched["metadata"]["resourceVersion"] = old.obj["metadata"]["resourceVersion"]
        obj = self._merge_for_write(target, old.obj, patched)
        if rt is r.PODS:
            _validate_pod(obj)
        if _dry_run(request):
            return json_response(obj)
        entry = self.store.replace(rt, obj, expected_rv=expected)
        return self._object_response(rt, entry)

    async def _delete(self, request: web.Request, target: routing.Target) -> web.Response:
        rt = target.rt
        body = await _body(request, required=False)
        grace = body.get("gracePeriodSeconds") if isinstance(body, dict) else None
        if "gracePeriodSeconds" in request.query:
            grace = _int_param(request, "gracePeriodSeconds", 30)
        if rt is r.PODS:
            obj = kubelet.delete_pod(self.world, target.namespace or "", target.name or "", grace)
            return json_response(obj)
        policy = jobs.propagation(body if isinstance(body, dict) else {}, dict(request.query)) if rt is r.JOBS else None
        entry = self.store.delete(rt, target.namespace or "", target.name or "")
        if policy is not None:
            jobs.deleted(self.world, entry.obj, policy)
        if rt is r.DAEMONSETS:
            uid = entry.obj["metadata"]["uid"]
            for _, pod in list(self.store.scan(r.PODS, target.namespace)):
                if pod.obj["metadata"].get("ownerReferences", [{}])[0].get("uid") == uid:
                    kubelet.delete_pod(self.world, pod.obj["metadata"]["namespace"], pod.obj["metadata"]["name"], None)
        return self._object_response(rt, entry)

    # -- watch ---------------------------------------------------------------------------

    async def _watch(self, request: web.Request, target: routing.Target) -> web.StreamResponse:
        rt = target.rt
        labels, fields = self._filters(request, rt)
        bookmarks = request.query.get("allowWatchBookmarks") in ("true", "1")
        timeout = float(_int_param(request, "timeoutSeconds", 1800)) or 1800.0
        drop_after = self.world.faults.api.dropWatchesAfterSeconds
        rv_param = request.query.get("resourceVersion", "")
        initial_events = request.query.get("sendInitialEvents") in ("true", "1")
        if initial_events and request.query.get("resourceVersionMatch") != "NotOlderThan":
            raise ApiError(
                422,
                "Invalid",
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            )

        def visible(obj: Obj) -> bool:
            ns_ok = target.namespace is None or obj["metadata"].get("namespace") == target.namespace
            return ns_ok and labels_match(labels, obj["metadata"].get("labels")) and fields_match(fields, obj)

        watcher = Watcher(
            key=r.STORAGE_KEY.get(rt.key, rt.key),
            accepts=lambda event: self._translate(event, visible)[0] is not None,
            index=_watch_index(request.query.get("fieldSelector")),
        )
        self.store.subscribe(watcher)
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"})
        response.enable_chunked_encoding()
        try:
            backlog: list[tuple[bytes, Entry]] = []
            if initial_events or rv_param in ("", "0"):
                start_rv = self.store.rv
                backlog = [(b"ADDED", e) for _, e in self.store.scan(rt, target.namespace) if visible(e.obj)]
            else:
                try:
                    start_rv = int(rv_param)
                except ValueError:
                    raise ApiError(400, "BadRequest", f'invalid resource version "{rv_param}"') from None
                try:
                    for ev in self.store.history_since(rt, start_rv, watcher.index):
                        kind, e = self._translate(ev, visible)
                        if kind:
                            backlog.append((kind, e))
                except ApiError as gone:
                    await response.prepare(request)
                    await response.write(b'{"type":"ERROR","object":' + json.dumps(gone.status()).encode() + b"}\n")
                    return response
            await response.prepare(request)
            last_sent = start_rv
            for kind, entry in backlog:
                await self._send(response, rt, kind, entry)
                last_sent = max(last_sent, int(entry.obj["metadata"]["resourceVersion"]))
            if initial_events:  # streaming list: this bookmark says "the initial state is complete"
                await self._bookmark(response, rt, initial_events_end=True, rv=start_rv)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (min(timeout, drop_after) if drop_after else timeout)
            next_bookmark = loop.time() + self.bookmark_seconds
            while True:
                now = loop.time()
                if now >= deadline:
                    if drop_after and drop_after < timeout:
                        self.world.stats.watches_dropped += 1  # the fault ended it, not the client's timeout
                    break
                wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                if not watcher.queue.empty():
                    event = watcher.queue.get_nowait()
                else:
                    try:
                        event = await asyncio.wait_for(watcher.queue.get(), timeout=max(0.0, wait))
                    except TimeoutError:
                        # Only with nothing queued: a bookmark promises every event up to its
                        # resourceVersion has been sent, so it must never overtake queued events.
                        if bookmarks and loop.time() >= next_bookmark and watcher.queue.empty():
                            await self._bookmark(response, rt)
                            next_bookmark = loop.time() + self.bookmark_seconds
                        continue
                if event is None:
                    self.world.stats.watches_dropped += 1
                    break  # dropped on purpose
                if event.rv <= last_sent:
                    continue
                kind, entry = self._translate(event, visible)
                if kind:
                    await self._send(response, rt, kind, entry)
                    last_sent = event.rv
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(watcher)
        return response

    @staticmethod
    def _translate(event: WatchEvent, visible: Any) -> tuple[bytes | None, Entry]:
        """Map a store event to what this watcher sees, given its filters."""
        now_visible = visible(event.entry.obj)
        was_visible = event.old is not None and visible(event.old.obj)
        if event.type == "DELETED":
            return (b"DELETED" if was_visible or now_visible else None), event.entry
        if event.type == "ADDED":
            return (b"ADDED" if now_visible else None), event.entry
        if now_visible:
            return (b"MODIFIED" if was_visible else b"ADDED"), event.entry
        return (b"DELETED" if was_visible else None), event.entry

    async def _send(self, response: web.StreamResponse, rt: r.ResourceType, kind: bytes, entry: Entry) -> None:
        raw = (
            json.dumps(builders.events_v1_view(entry.obj), separators=(",", ":")).encode()
            if rt is r.EVENTS_V1
            else entry.json()
        )
        await response.write(b'{"type":"' + kind + b'","object":' + raw + b"}\n")
        self.world.stats.watch_events_sent += 1

    async def _bookmark(
        self,
        response: web.StreamResponse,
        rt: r.ResourceType,
        *,
        initial_events_end: bool = False,
        rv: int | None = None,
    ) -> None:
        meta: Obj = {"resourceVersion": str(self.store.rv if rv is None else rv), "creationTimestamp": None}
        if initial_events_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
        await response.write(b'{"type":"BOOKMARK","object":' + json.dumps(obj, separators=(",", ":")).encode() + b"}\n")


def _groups() -> list[str]:
    return sorted({rt.group for rt in r.ALL if rt.group}, key=lambda g: (g != "apps", g))


def _group(name: str) -> Obj:
    versions = sorted({rt.version for rt in r.ALL if rt.group == name})
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


_AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def _wants_aggregated(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "").replace(" ", "")
    return "as=APIGroupDiscoveryList" in accept.split(",")[0]


def _aggregated_response(body: Obj) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), headers={"Content-Type": _AGGREGATED})


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "as=Table" in accept.split(",")[0] or accept.startswith("application/json;as=Table")


def _dry_run(request: web.Request) -> bool:
    return request.query.get("dryRun") == "All"


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "BadRequest", f'invalid {name} "{raw}": must be an integer') from None


async def _body(request: web.Request, *, required: bool = True) -> Obj:
    raw = await request.read()
    if not raw:
        if required:
            raise ApiError(400, "BadRequest", "the request body is empty")
        return {}
    content_type = request.headers.get("Content-Type", JSON).split(";")[0].strip()
    if content_type == protobuf.CONTENT_TYPE:
        try:
            return protobuf.decode(raw)
        except ProtobufError as exc:
            raise ApiError(415, "UnsupportedMediaType", str(exc)) from None
    if content_type not in (JSON, "", "*/*"):
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: {JSON}",
        )
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"the body of the request could not be decoded as JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")
    return body


def _check_kind(rt: r.ResourceType, body: Obj) -> None:
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind is not None and kind != rt.kind:
        raise ApiError(400, "BadRequest", f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
    if api_version is not None and api_version != rt.api_version and not (rt is r.EVENTS and api_version == "v1"):
        raise ApiError(
            400,
            "BadRequest",
            f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})",
        )


def _validate_pod(pod: Obj) -> None:
    spec = pod.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list) or not containers:
        raise ApiError(
            422,
            "Invalid",
            'Pod "' + str(pod.get("metadata", {}).get("name", "")) + '" is invalid: spec.containers: Required value',
        )
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("name") or not c.get("image"):
            raise ApiError(422, "Invalid", f"Pod is invalid: spec.containers[{i}]: Required value: name and image")


def _node_name(rt: r.ResourceType, fields: Any) -> str | None:
    """The node of a ``spec.nodeName=NODE`` pod list, which the index answers."""
    if rt is not r.PODS:
        return None
    getter = r.PODS.fields["spec.nodeName"]
    for clause_getter, equal, value in fields or ():
        if clause_getter is getter and equal:
            return str(value)
    return None


def _watch_index(selector: str | None) -> tuple[str, str] | None:
    """The (field, value) a watch's field selector pins by equality, if it is an indexed field."""
    for clause in (selector or "").split(","):
        m = re.match(r"^\s*(metadata\.name|spec\.nodeName)\s*==?\s*(.*?)\s*$", clause)
        if m and m[2]:
            return m[1], m[2]
    return None
