"""The simulator's HTTP server (aiohttp), its admin endpoints, and a handle to run it.

Routes:
- the Kubernetes API over HTTPS (``/version``, ``/api``, ``/apis``, resources), bearer token
  required except for ``/version`` and ``/healthz``, as a real API server allows anonymously;
- ``/kata-monitor/NODE/metrics`` on a second, plain-HTTP port: each node's kata-monitor,
  unauthenticated like the real one;
- ``/_sim/...``: faults, history compaction, dropped watches, counters, the truth per node and
  the request log (token required). docs/simulator.md documents them.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import secrets
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from simulator import builders, disruption, installer, kubelet
from simulator import resources as r
from simulator.api import Api, json_response, status_response
from simulator.faults import Faults, HealthRegression, ScenarioError, load_scenario, parse_faults
from simulator.fleet import FleetSpec, make_fleet
from simulator.installmode import DEFAULT_INSTALL_LABEL, InstallConfig, InstallMode
from simulator.kubemirror import KubeMirror
from simulator.kubeserver import KubeBackend
from simulator.metrics import KataMonitor
from simulator.objectstore import ApiError
from simulator.populate import populate
from simulator.requestlog import RequestRecord
from simulator.selectors import labels_match, match_labels_selector
from simulator.tls import make_certificates
from simulator.world import World

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ANONYMOUS = {"/version", "/version/", "/healthz", "/livez", "/readyz"}
MAX_BODY = 16 * 1024 * 1024


@dataclass
class ServerOptions:
    """How to run a simulator."""

    profile: str = "small"
    nodes: int | None = None
    seed: int = 42
    time_scale: float = 1.0
    host: str = "127.0.0.1"
    port: int = 0
    cluster_name: str = "sim"
    out_dir: Path | None = None  # where the kubeconfig and target file go (a temp dir by default)
    kubeconfig_out: Path | None = None
    targets_out: Path | None = None  # the Prometheus file_sd target file (default: in out_dir)
    scenario: Path | None = None
    faults: Faults | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    bookmark_seconds: float = 2.0
    churn: bool = True  # keep builds arriving and finishing
    fleet: FleetSpec | None = None  # a given fleet (a rehearsal's copy) instead of the profile's
    backend: str = "memory"  # or "kube-apiserver": the world on a real control plane (simulator.kubeserver)
    install_mode: InstallMode = InstallMode.ONDELETE  # how kata-deploy is deployed (simulator.installmode)
    lean_metrics: bool = (
        False  # kata-monitor serves only the families fleetctl reads (the demo: a seed fleet scraped every second)
    )
    helm: bool = False  # kata-deploy's objects carry Helm's ownership marks
    install_label: str = DEFAULT_INSTALL_LABEL  # the node label the ``label`` mode's installers select on

    def install(self) -> InstallConfig:
        """The install mode, Helm and the install label, as the world takes them."""
        return InstallConfig(mode=InstallMode(self.install_mode), helm=self.helm, label=self.install_label)


class Admin:
    """``/_sim`` handlers."""

    def __init__(self, world: World, requests: deque[RequestRecord]) -> None:
        self.world, self.requests = world, requests

    async def get_faults(self, request: web.Request) -> web.Response:
        return json_response(self.world.faults.to_dict())

    async def set_faults(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
            base = None if request.method == "PUT" else parse_faults(self.world.faults.to_dict())
            faults = parse_faults(body, base=base)
        except (ValueError, ScenarioError) as exc:
            raise ApiError(422, "Invalid", str(exc)) from None
        self.world.faults = faults
        apply_faults(self.world)
        return json_response(faults.to_dict())

    async def compact(self, request: web.Request) -> web.Response:
        return json_response({"compactedResourceVersion": self.world.store.compact()})

    async def drop_watches(self, request: web.Request) -> web.Response:
        return json_response({"dropped": self.world.store.drop_watches()})

    async def stats(self, request: web.Request) -> web.Response:
        s = self.world.stats
        return json_response(
            {
                "kataDeployPodDeletions": dict(s.kata_deploy_pod_deletions),
                "installs": dict(s.installs),
                "installFailures": dict(s.install_failures),
                "evictions": s.evictions,
                "evictionsRefused": s.evictions_refused,
                "apiRequests": s.api_requests,
                "apiErrorsInjected": s.api_errors_injected,
                "watchEventsSent": s.watch_events_sent,
                "watchesDropped": s.watches_dropped,
                "resourceVersion": self.world.store.rv,
                "objects": {rt.plural: self.world.store.count(rt) for rt in r.ALL if rt is not r.EVENTS_V1},
            }
        )

    async def nodes(self, request: web.Request) -> web.Response:
        return json_response(self.world.truth())

    async def touch(self, request: web.Request) -> web.Response:
        """Change ``count`` node annotations as fast as possible (a burst of watch events for benchmarks)."""
        try:
            count = int((json.loads(await request.read() or b"{}")).get("count", 1000))
        except (ValueError, AttributeError):
            raise ApiError(400, "BadRequest", 'expected {"count": N}') from None
        names = list(self.world.nodes)
        for i in range(max(0, count)):
            name = names[i % len(names)]
            self.world.store.mutate(r.NODES, "", name, _touch(i))
            if i % 200 == 199:
                await asyncio.sleep(0)  # let watch streams flush
        return json_response({"touched": count, "resourceVersion": self.world.store.rv})

    async def request_log(self, request: web.Request) -> web.Response:
        records = [record.__dict__ for record in self.requests]
        if request.query.get("clear") in ("1", "true"):
            self.requests.clear()
        return json_response(records)


def _touch(i: int) -> Callable[[dict[str, Any]], None]:
    def change(node: dict[str, Any]) -> None:
        node["metadata"].setdefault("annotations", {})["sim.fleetctl.io/touched"] = str(i)

    return change


def apply_faults(world: World) -> None:
    """Make the world match its faults: NotReady nodes, kata-monitor targets, blocking PDBs."""
    wanted = set(world.faults.notReadyNodes)
    for name in world.nodes:
        node = world.node_obj(name)
        if node is None:
            continue
        ready = world.node_ready(name)
        faulted = node["metadata"].get("annotations", {}).get("sim.fleetctl.io/not-ready") == "true"
        if name in wanted and not faulted:
            world.store.mutate(r.NODES, "", name, _make_not_ready(world))
        elif name not in wanted and faulted and not ready:
            world.store.mutate(r.NODES, "", name, _make_ready(world))
    world.write_targets()
    disruption.apply_blocking(world)


def _make_not_ready(world: World) -> Callable[[dict[str, Any]], None]:
    def change(n: dict[str, Any]) -> None:
        at = world.stamp()
        n["metadata"]["annotations"]["sim.fleetctl.io/not-ready"] = "true"
        n["status"]["conditions"] = [
            {
                **c,
                "status": "Unknown",
                "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.",
                "lastTransitionTime": at,
            }
            for c in n["status"]["conditions"]
        ]
        taints = [t for t in n["spec"].get("taints", []) if t["key"] != "node.kubernetes.io/unreachable"]
        n["spec"]["taints"] = [
            *taints,
            {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": at},
        ]

    return change


def _make_ready(world: World) -> Callable[[dict[str, Any]], None]:
    def change(n: dict[str, Any]) -> None:
        n["metadata"]["annotations"].pop("sim.fleetctl.io/not-ready", None)
        n["status"]["conditions"] = builders.node_conditions(True, world.stamp())
        n["spec"]["taints"] = [t for t in n["spec"].get("taints", []) if t["key"] != "node.kubernetes.io/unreachable"]
        if not n["spec"]["taints"]:
            del n["spec"]["taints"]

    return change


def _add_admin_routes(app: web.Application, admin: Admin) -> None:
    app.router.add_get("/_sim/faults", admin.get_faults)
    app.router.add_put("/_sim/faults", admin.set_faults)
    app.router.add_patch("/_sim/faults", admin.set_faults)
    app.router.add_post("/_sim/compact", admin.compact)
    app.router.add_post("/_sim/drop-watches", admin.drop_watches)
    app.router.add_get("/_sim/stats", admin.stats)
    app.router.add_get("/_sim/nodes", admin.nodes)
    app.router.add_get("/_sim/requests", admin.request_log)
    app.router.add_post("/_sim/touch", admin.touch)


def build_admin_app(world: World, options: ServerOptions, requests: deque[RequestRecord]) -> web.Application:
    """Only the ``/_sim`` endpoints (token required), served beside a real API server."""
    token = options.token.encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        given = header[7:].strip().encode() if header.startswith("Bearer ") else b""
        try:
            if not hmac.compare_digest(given, token):
                raise ApiError(401, "Unauthorized", "Unauthorized")
            return await handler(request)
        except ApiError as exc:
            return status_response(exc)

    app = web.Application(middlewares=[auth], client_max_size=MAX_BODY)
    _add_admin_routes(app, Admin(world, requests))
    return app


def build_app(
    world: World, options: ServerOptions, transports: weakref.WeakSet[asyncio.BaseTransport]
) -> web.Application:
    """The aiohttp application for ``world``. Connections it serves are remembered in ``transports``."""
    api = Api(world, bookmark_seconds=options.bookmark_seconds)
    requests: deque[RequestRecord] = deque(maxlen=200_000)
    admin = Admin(world, requests)
    token = options.token.encode()

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.transport is not None:
            transports.add(request.transport)
        try:
            return await handler(request)
        except ApiError as exc:
            return status_response(exc)
        except web.HTTPRequestEntityTooLarge:
            return status_response(
                ApiError(413, "RequestEntityTooLarge", f"the request body is larger than {MAX_BODY} bytes")
            )
        except web.HTTPMethodNotAllowed:
            return status_response(
                ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            )
        except web.HTTPNotFound:
            return status_response(ApiError(404, "NotFound", "the server could not find the requested resource"))
        except web.HTTPException as exc:
            return status_response(ApiError(exc.status, exc.reason.replace(" ", ""), exc.text or exc.reason))
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:  # noqa: BLE001 - a malformed request must never take the server down
            return status_response(
                ApiError(500, "InternalError", f"Internal error occurred: {type(exc).__name__}: {exc}")
            )

    @web.middleware
    async def auth_and_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in _ANONYMOUS:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        given = header[7:].strip().encode() if header.startswith("Bearer ") else b""
        if not hmac.compare_digest(given, token):
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if not (path.startswith("/api/") or path.startswith("/apis/")):
            return await handler(request)
        world.stats.api_requests += 1
        record = await _record(requests, request)
        try:
            faults = world.faults.api
            if faults.latencyMs:
                await asyncio.sleep(faults.latencyMs / 1000)
            is_resource = path.count("/") >= 3 and not path.rstrip("/").endswith(("/v1", "/v1alpha1"))
            if is_resource and faults.errorRate and world.rng.random() < faults.errorRate:
                world.stats.api_errors_injected += 1
                raise ApiError(
                    500, "InternalError", "Internal error occurred: simulated API server error (fault injection)"
                )
            response = await handler(request)
        except ApiError as exc:
            if record is not None:
                record.status = exc.code
            raise
        if record is not None:
            record.status = response.status
        return response

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[errors, auth_and_faults], client_max_size=MAX_BODY)
    app.router.add_get("/version", api.version)
    app.router.add_get("/version/", api.version)  # kr8s asks with the slash; a real API server answers both
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, healthz)
    app.router.add_get("/api", api.api_versions)
    app.router.add_get("/api/", api.api_versions)
    app.router.add_get("/apis/", api.api_groups)
    app.router.add_get("/api/{version:v1}", api.resource_list)
    app.router.add_get("/apis", api.api_groups)
    app.router.add_get("/apis/{group}", api.api_group)
    app.router.add_get("/apis/{group}/{version}", api.resource_list)
    app.router.add_route("*", "/api/v1/{tail:.+}", api.resource)
    app.router.add_route("*", "/apis/{group}/{version}/{tail:.+}", api.resource)
    _add_admin_routes(app, admin)
    return app


def build_metrics_app(world: World, *, lean: bool = False) -> web.Application:
    """kata-monitor for every node, on plain HTTP as the real one serves (port 8090 on a node)."""
    monitor = KataMonitor(world, lean=lean)

    async def metrics(request: web.Request) -> web.Response:
        node = request.match_info["node"]
        if (
            node not in world.nodes
            or node in world.faults.kataMonitorMissing
            or not world.nodes[node].spec.kata_monitor
        ):
            raise web.HTTPNotFound()
        if node in world.faults.kataMonitorDown:
            return web.Response(status=500, text="kata-monitor: failed to list sandboxes: connection refused\n")
        return web.Response(
            text=monitor.render(node),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    app = web.Application()
    app.router.add_get("/kata-monitor/{node}/metrics", metrics)
    return app


async def _drain_loop() -> None:
    """Cancel what is left and let closing transports finish, so none outlives the loop."""
    current = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)
    await asyncio.sleep(0.05)


async def _record(requests: deque[RequestRecord], request: web.Request) -> RequestRecord | None:
    """Log the request; a write's record is returned so its status can be filled in."""
    from simulator import routing

    try:
        target = routing.parse(request.path)
    except ApiError:
        return None
    method = request.method
    name = target.name
    if method == "GET":
        verb = ("watch" if request.query.get("watch") in ("true", "1") else "list") if name is None else "get"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())
        if name is None and method == "POST":
            name = _body_name(await request.read())
    record = RequestRecord(verb, target.rt.group, target.rt.plural, target.subresource, target.namespace, name)
    requests.append(record)
    return record if method != "GET" else None


def _body_name(body: bytes) -> str | None:
    try:
        meta = json.loads(body).get("metadata") or {}
    except (ValueError, AttributeError):
        return None
    return str(meta["name"]) if isinstance(meta, dict) and meta.get("name") else None


def write_kubeconfig(path: Path, *, server: str, token: str, name: str, ca_pem: bytes) -> None:
    """A kubeconfig with one cluster (its CA included), one user (a bearer token) and one context, all named ``name``."""
    ca_data = base64.b64encode(ca_pem).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": f"{name}-admin", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin", "namespace": "default"}}],
        "current-context": name,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


class Simulator:
    """A running simulator on a background thread, for tests, the demo and rehearsals."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        faults = options.faults or (load_scenario(options.scenario) if options.scenario else Faults())
        fleet = options.fleet or make_fleet(options.profile, seed=options.seed, nodes=options.nodes)
        out = options.out_dir or Path(tempfile.mkdtemp(prefix=f"fleetctl-sim-{options.cluster_name}-"))
        self.out_dir = out
        self.kube: KubeBackend | None = None
        if options.backend == "kube-apiserver":
            mirror = KubeMirror()
            self.world = World(
                fleet, time_scale=options.time_scale, faults=faults, store=mirror, install=options.install()
            )
            self.kube = KubeBackend(self, mirror)
        elif options.backend == "memory":
            self.world = World(fleet, time_scale=options.time_scale, faults=faults, install=options.install())
        else:
            raise ValueError(f"unknown simulator backend {options.backend!r}: use memory or kube-apiserver")
        self.kubeconfig = options.kubeconfig_out or out / "kubeconfig"
        self.targets = options.targets_out or out / "kata-monitor-targets.json"
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._transports: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._metrics_runner: web.AppRunner | None = None
        self.metrics_url = ""
        self.admin_url = ""  # the /_sim endpoints: the API's own URL, or a port of their own beside a real server
        self.ca_path: Path | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def token(self) -> str:
        """The bearer token the kubeconfig carries."""
        return self.options.token

    # -- what the demo and rehearsals may ask of the world (the product reaches no deeper) --

    def truth(self) -> dict[str, Any]:
        """What is really true per node: arch, zone, installed release, custom kernel (``/_sim/nodes``)."""
        return self.world.truth()

    def add_health_regression(self, release: str, arch: str) -> None:
        """From now on, ``release`` on ``arch`` shows a health regression in its metrics."""
        self._call(lambda: self.world.faults.healthRegressions.append(HealthRegression(release=release, arch=arch)))

    def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of one object of the resource ``plural`` (``pods``, ...), or None."""
        entry = self.world.store.get(r.lookup_plural(plural), namespace, name)
        return entry.copy() if entry is not None else None

    def pdbs_covering(self, namespace: str, labels: dict[str, str]) -> list[str]:
        """The PodDisruptionBudgets (``namespace/name``) whose selectors match a pod with ``labels``."""
        return sorted(
            f"{namespace}/{entry.obj['metadata']['name']}"
            for _, entry in self.world.store.scan(r.PDBS, namespace)
            if labels_match(match_labels_selector(entry.obj["spec"].get("selector")), labels)
        )

    def _call(self, change: Callable[[], None]) -> None:
        """Run ``change`` on the simulator's loop (or here, before it runs)."""
        if self._loop is None or not self._loop.is_running():
            change()
            return
        done = threading.Event()

        def run() -> None:
            try:
                change()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(timeout=60)

    async def start_async(self) -> None:
        """Populate the world and start serving on the running loop."""
        started = time.monotonic()
        if self.kube is not None:
            self.kube.start()
            certs = self.kube.plane.certs
            assert certs is not None
            requests: deque[RequestRecord] = deque(maxlen=200_000)
            self._runner = web.AppRunner(build_admin_app(self.world, self.options, requests), access_log=None)
            self.url = self.kube.plane.url
        else:
            populate(self.world)
            certs = make_certificates(self.out_dir)
            self._runner = web.AppRunner(
                build_app(self.world, self.options, self._transports), access_log=None, handler_cancellation=True
            )
        self.ca_path = certs.ca_path
        await self._runner.setup()
        await web.TCPSite(
            self._runner, self.options.host, 0 if self.kube else self.options.port, ssl_context=certs.server_context()
        ).start()
        self._metrics_runner = web.AppRunner(
            build_metrics_app(self.world, lean=self.options.lean_metrics), access_log=None
        )
        await self._metrics_runner.setup()
        await web.TCPSite(self._metrics_runner, self.options.host, 0).start()
        port = self._runner.addresses[0][1]
        self.world.server_port = self._metrics_runner.addresses[0][1]
        self.admin_url = f"https://{self.options.host}:{port}"
        if self.kube is None:
            self.url = self.admin_url
        else:
            self.kube.follow(asyncio.get_running_loop(), requests)
        self.metrics_url = f"http://{self.options.host}:{self.world.server_port}"
        self.targets.parent.mkdir(parents=True, exist_ok=True)
        self.world.targets_path = self.targets
        apply_faults(self.world)
        write_kubeconfig(
            self.kubeconfig, server=self.url, token=self.token, name=self.options.cluster_name, ca_pem=certs.ca_pem
        )
        if self.world.controllers:
            self.world.spawn(disruption.reconcile_forever(self.world))
        self.world.spawn(kubelet.finish_due_pods(self.world))
        if self.options.churn:
            self.world.spawn(kubelet.churn_builds(self.world))
        if self.world.controllers:
            installer.reconcile_daemonset_status(self.world)
        self.startup_seconds = time.monotonic() - started

    async def stop_async(self) -> None:
        """Stop serving and cancel the world's behaviour."""
        await self.world.stop()
        if self.kube is not None:
            await self.kube.stop()
        for runner in (self._runner, self._metrics_runner):
            if runner is not None:
                await runner.cleanup()
        # A TLS close waits for the peer's close_notify, which an idle keep-alive client never
        # sends; abort what is left so no connection outlives the loop.
        for transport in list(self._transports):
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()

    def start(self) -> Simulator:
        """Run on a background thread; returns once the API answers."""
        self._thread = threading.Thread(target=self._run, name=f"simulator-{self.options.cluster_name}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.start_async())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._error = exc
            loop.run_until_complete(self.world.stop())
            loop.run_until_complete(_drain_loop())
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
        finally:
            loop.run_until_complete(_drain_loop())
            loop.close()

    def stop(self) -> None:
        """Stop the server and its thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
