"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler, built from their Go modules (``tools/k8s``) and started, watched and stopped here.

This is the envtest idea with the controllers that fleetctl depends on running for real: the
DaemonSet, ReplicaSet, Job, disruption (PDB), garbage-collector, namespace, pod-GC, node-lifecycle
and service-account controllers, and the default scheduler. There are no kubelets: the
simulator's world plays them through the API, as KWOK does (``simulator.kubeworld``).

- Binaries: ``$FLEETCTL_K8S_ASSETS`` (like envtest's ``KUBEBUILDER_ASSETS``), else the build cache
  that ``tools/k8s/build.sh`` (``make k8s``) fills, building it first when Go is there.
- Authentication: a static token file for the admin (``system:masters``; its kubeconfig is
  ``kubeconfig``), client certificates from a CA made for the run for the controller-manager and
  the scheduler (their own identities), and service-account tokens signed by a key made for the run.
- Authorization ``Node,RBAC``; the default admission plugins (ValidatingAdmissionPolicy included).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from simulator.tls import Certificates, client_certificate, make_certificates, signing_key

ASSETS_ENV = "FLEETCTL_K8S_ASSETS"
KUBE_VERSION = "v1.37.2"  # tools/k8s/go.mod pins it
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
BUILD_SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "k8s" / "build.sh"
CONTROLLERS = tuple(
    f"{name}-controller"
    for name in (
        "daemonset", "replicaset", "deployment", "job", "ttl-after-finished", "disruption", "garbage-collector",
        "namespace", "pod-garbage-collector", "node-lifecycle", "taint-eviction", "serviceaccount",
        "serviceaccount-token", "root-ca-certificate-publisher", "clusterrole-aggregation",
        "validatingadmissionpolicy-status",
    )
)  # fmt: skip
SERVICE_CIDR = "10.96.0.0/16"
AGENT_USER = "sim-kubelet"  # the simulated nodes' identity: its requests stay out of the audit log
LAUNCHER_USER = "fleetctl-launcher"  # this module's own readiness checks (a client certificate)
AUDIT_POLICY = f"""\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: [{AGENT_USER}, {LAUNCHER_USER}, "system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"]
  - level: None
    userGroups: ["system:serviceaccounts:kube-system", "system:nodes"]
  - level: None
    nonResourceURLs: ["/healthz*", "/readyz*", "/livez*"]
  - level: RequestResponse  # the admin's requests in full, so the in-memory backend can replay them
    users: [fleetctl-admin]
    verbs: [get, list, create, update, patch, delete]
  - level: Metadata
"""


class ControlPlaneError(RuntimeError):
    """The control plane could not be found, built or started: what, and what to do."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_assets() -> Path:
    """The directory with the four binaries: ``$FLEETCTL_K8S_ASSETS``, or the build cache (built
    now when missing and Go is installed). Raises ``ControlPlaneError`` saying what to install."""
    given = os.environ.get(ASSETS_ENV)
    if given:
        missing = [b for b in BINARIES if not os.access(Path(given) / b, os.X_OK)]
        if missing:
            raise ControlPlaneError(
                f"{ASSETS_ENV}={given} lacks {', '.join(missing)}: point it at a directory with {', '.join(BINARIES)}, "
                "or unset it to build them from tools/k8s (make k8s)"
            )
        return Path(given)
    if not BUILD_SCRIPT.exists():
        raise ControlPlaneError(
            f"no Kubernetes control plane: set {ASSETS_ENV} to a directory with {', '.join(BINARIES)} "
            "(this installation has no tools/k8s to build them from)"
        )
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True)
    if done.returncode != 0:
        raise ControlPlaneError(done.stderr.strip() or f"{BUILD_SCRIPT} exited {done.returncode}")
    return Path(done.stdout.strip().splitlines()[-1])


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the process that started us dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Component:
    """One started binary: its process and log."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 15) -> str:
        """The end of its log, for an error message."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager and kube-scheduler, for one run."""

    out_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fleetctl-k8s-")))
    assets: Path | None = None
    controllers: tuple[str, ...] = CONTROLLERS
    node_monitor_grace_period: str = "50s"
    uncached: tuple[str, ...] = ("nodes",)
    """Resources served without the watch cache, straight from etcd: an etcd compaction (``compact``)
    then sends a node watch that resumes from an older resourceVersion a 410 Gone, as on a busy
    cluster, so informers' relists can be tested for real."""
    etcd_url: str = ""
    ready_timeout: float = 300.0  # a safety net: a slow machine is allowed to be slow
    components: list[Component] = field(default_factory=list)
    url: str = ""
    certs: Certificates | None = None
    kubeconfig: Path = Path()
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # the admin's (fleetctl-admin)
    agent_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # the simulated kubelets' (sim-kubelet)
    audit_log: Path = Path()
    started_seconds: float = 0.0

    # -- start and stop ------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Start everything; return once the API server is ready and the controllers work."""
        began = time.monotonic()
        assets = self.assets or find_assets()
        pki = self.out_dir / "pki"
        self.certs = make_certificates(
            pki,
            hosts=("127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "10.96.0.1"),
        )
        sa_pub = signing_key(pki / "service-accounts.key")
        etcd_port, peer_port, api_port = _free_port(), _free_port(), _free_port()
        self.etcd_url = f"http://127.0.0.1:{etcd_port}"
        self.url = f"https://127.0.0.1:{api_port}"
        self.write_kubeconfig("admin", LAUNCHER_USER, ("system:masters",))  # the launcher's own client
        tokens = pki / "tokens.csv"
        tokens.write_text(
            f'{self.token},fleetctl-admin,fleetctl-admin,"system:masters"\n'
            f'{self.agent_token},{AGENT_USER},{AGENT_USER},"system:masters"\n'
        )
        tokens.chmod(0o600)
        policy = self.out_dir / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        self.audit_log = self.out_dir / "logs" / "audit.log"
        self.kubeconfig = self.token_kubeconfig("kubeconfig", self.token)
        try:
            self._spawn(assets, "etcd", [
                "--data-dir", str(self.out_dir / "etcd"), "--name", "fleetctl",
                "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
                "--initial-cluster", f"fleetctl=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync", "--quota-backend-bytes", str(8 * 1024**3), "--log-level", "warn",
            ])  # fmt: skip
            self._spawn(assets, "kube-apiserver", [
                "--etcd-servers", f"http://127.0.0.1:{etcd_port}",
                "--bind-address", "127.0.0.1", "--secure-port", str(api_port), "--endpoint-reconciler-type", "none",
                "--tls-cert-file", str(self.certs.cert_path), "--tls-private-key-file", str(self.certs.key_path),
                "--client-ca-file", str(self.certs.ca_path), "--token-auth-file", str(tokens),
                "--service-account-issuer", "https://kubernetes.default.svc",
                "--service-account-key-file", str(sa_pub),
                "--service-account-signing-key-file", str(pki / "service-accounts.key"),
                "--service-cluster-ip-range", SERVICE_CIDR,
                "--authorization-mode", "Node,RBAC", "--allow-privileged=true",
                *(["--watch-cache-sizes", ",".join(f"{res}#0" for res in self.uncached)] if self.uncached else []),
                "--audit-policy-file", str(policy), "--audit-log-path", str(self.audit_log),
                "--audit-log-format", "json", "--audit-log-mode", "blocking",
                "--cert-dir", str(pki / "apiserver"), "--profiling=false", "--v=1",
            ])  # fmt: skip
            self._wait_ready()
            self._spawn(assets, "kube-controller-manager", [
                "--kubeconfig", str(self.write_kubeconfig("controller-manager", "system:kube-controller-manager")),
                "--authentication-kubeconfig", str(self.kubeconfig),
                "--authorization-kubeconfig", str(self.kubeconfig),
                "--controllers", ",".join(self.controllers), "--leader-elect=false", "--secure-port", "0",
                "--use-service-account-credentials=true",
                "--service-account-private-key-file", str(pki / "service-accounts.key"),
                "--root-ca-file", str(self.certs.ca_path),
                "--node-monitor-grace-period", self.node_monitor_grace_period,
                "--concurrent-daemonset-syncs", "4", "--concurrent-replicaset-syncs", "8",
                "--kube-api-qps", "200", "--kube-api-burst", "400", "--v=1",  # client-go's 20/30 throttles a 1,000-node fleet
            ])  # fmt: skip
            self._spawn(assets, "kube-scheduler", [
                "--kubeconfig", str(self.write_kubeconfig("scheduler", "system:kube-scheduler")),
                "--authentication-kubeconfig", str(self.kubeconfig),
                "--authorization-kubeconfig", str(self.kubeconfig),
                "--leader-elect=false", "--secure-port", "0", "--kube-api-qps", "200", "--kube-api-burst", "400", "--v=1",
            ])  # fmt: skip
            self._wait_controllers()
        except BaseException:
            self.stop()
            raise
        self.started_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop what was started, one at a time and newest first (the API server needs etcd to
        shut down cleanly): SIGTERM, then SIGKILL if it lingers."""
        for component in reversed(self.components):
            if component.proc.poll() is None:
                component.proc.terminate()
            try:
                component.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                component.proc.kill()
                component.proc.wait()
        self.components.clear()

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, assets: Path, name: str, args: list[str]) -> None:
        logs = self.out_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(assets / name), *args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        self.components.append(Component(name, proc, log))

    # -- readiness -----------------------------------------------------------------------

    def _check_alive(self) -> None:
        for component in self.components:
            code = component.proc.poll()
            if code is not None:
                raise ControlPlaneError(
                    f"{component.name} exited {code}; the end of {component.log}:\n{component.tail()}"
                )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            self._check_alive()
            with contextlib.suppress(OSError, urllib.error.URLError):
                if self.get("/readyz") == b"ok":
                    return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"kube-apiserver was not ready within {self.ready_timeout:g}s (safety net)")
            time.sleep(0.2)

    def _wait_controllers(self) -> None:
        """The service-account controller has made ``default/default``: the controller-manager works."""
        deadline = time.monotonic() + self.ready_timeout
        while True:
            self._check_alive()
            with contextlib.suppress(OSError, urllib.error.URLError):
                if self.get("/api/v1/namespaces/default/serviceaccounts/default"):
                    return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"kube-controller-manager did not start within {self.ready_timeout:g}s")
            time.sleep(0.2)

    # -- clients -------------------------------------------------------------------------

    def ssl_context(self, user: str = "admin") -> ssl.SSLContext:
        """TLS with the run's CA and ``user``'s client certificate (written by ``write_kubeconfig``)."""
        assert self.certs is not None
        ctx = ssl.create_default_context(cafile=str(self.certs.ca_path))
        ctx.load_cert_chain(self.out_dir / "pki" / f"{user}.crt", self.out_dir / "pki" / f"{user}.key")
        return ctx

    def get(self, path: str) -> bytes:
        """A GET as the admin."""
        with urllib.request.urlopen(f"{self.url}{path}", context=self.ssl_context(), timeout=30) as resp:
            return bytes(resp.read())

    def write_kubeconfig(self, user: str, common_name: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for a client certificate of ``common_name`` in ``groups`` (the cert and key
        are also kept as ``pki/<user>.crt|key``)."""
        assert self.certs is not None
        cert, key = client_certificate(self.certs, common_name, groups)
        pki = self.out_dir / "pki"
        (pki / f"{user}.crt").write_bytes(cert)
        (pki / f"{user}.key").write_bytes(key)
        (pki / f"{user}.key").chmod(0o600)
        return self._kubeconfig(user, {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)})

    def token_kubeconfig(self, name: str, token: str) -> Path:
        """A kubeconfig that authenticates with a bearer token (a service account's)."""
        return self._kubeconfig(name, {"token": token})

    def _kubeconfig(self, name: str, user: dict[str, str]) -> Path:
        assert self.certs is not None
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kube", "cluster": {"server": self.url, "certificate-authority-data": _b64(self.certs.ca_pem)}}],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": "kube", "context": {"cluster": "kube", "user": name, "namespace": "default"}}],
            "current-context": "kube",
        }  # fmt: skip
        path = self.out_dir / (name if name == "kubeconfig" else f"{name}.kubeconfig")
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path

    def compact(self) -> int:
        """Compact etcd's history up to its current revision (as etcd does on its own every few
        minutes); returns that revision."""

        def call(path: str, body: dict[str, object]) -> dict[str, object]:
            req = urllib.request.Request(f"{self.etcd_url}{path}", data=json.dumps(body).encode(), method="POST")
            with urllib.request.urlopen(req, timeout=30) as resp:
                answer: dict[str, object] = json.loads(resp.read())
                return answer

        header = call("/v3/kv/range", {"key": _b64(b"/"), "limit": 1}).get("header")
        revision = int(header["revision"]) if isinstance(header, dict) else 0
        call("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision

    # -- measurements --------------------------------------------------------------------

    def rss_bytes(self) -> dict[str, int]:
        """Each component's resident set size now (from /proc)."""
        return self._status_bytes("VmRSS")

    def peak_rss_bytes(self) -> dict[str, int]:
        """Each component's peak resident set size so far (VmHWM)."""
        return self._status_bytes("VmHWM")

    def _status_bytes(self, key: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for component in self.components:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{component.proc.pid}/status").read_text().splitlines():
                    if line.startswith(f"{key}:"):
                        out[component.name] = int(line.split()[1]) * 1024
        return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@contextlib.contextmanager
def control_plane(out_dir: Path | None = None) -> Iterator[ControlPlane]:
    """A started control plane, stopped (and its data removed) on exit."""
    plane = ControlPlane(out_dir=out_dir) if out_dir else ControlPlane()
    with plane:
        yield plane
    if out_dir is None:
        shutil.rmtree(plane.out_dir, ignore_errors=True)
