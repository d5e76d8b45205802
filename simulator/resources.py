"""The API resources the simulator serves: discovery data and supported field selectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.selectors import FieldGetter

_RW = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_RO = ("get", "list", "watch")


def _path(*keys: str) -> FieldGetter:
    def get(obj: Mapping[str, Any]) -> str:
        cur: Any = obj
        for k in keys:
            cur = cur.get(k) if isinstance(cur, Mapping) else None
        if isinstance(cur, bool):
            return "true" if cur else "false"
        return "" if cur is None else str(cur)

    return get


_META_FIELDS: dict[str, FieldGetter] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}


@dataclass(frozen=True)
class ResourceType:
    """One resource (a plural name in one group/version)."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = _RW
    short_names: tuple[str, ...] = ()
    subresources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    fields: Mapping[str, FieldGetter] = field(default_factory=lambda: dict(_META_FIELDS))

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """(group, plural): objects are stored once per key, whatever the version."""
        return (self.group, self.plural)


NODES = ResourceType(
    "",
    "v1",
    "nodes",
    "node",
    "Node",
    False,
    short_names=("no",),
    subresources={"status": ("get", "patch", "update"), "proxy": ("get",)},
    fields={**_META_FIELDS, "spec.unschedulable": _path("spec", "unschedulable")},
)
PODS = ResourceType(
    "",
    "v1",
    "pods",
    "pod",
    "Pod",
    True,
    short_names=("po",),
    categories=("all",),
    subresources={"status": ("get", "patch", "update"), "eviction": ("create",), "log": ("get",)},
    fields={
        **_META_FIELDS,
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
)
NAMESPACES = ResourceType(
    "",
    "v1",
    "namespaces",
    "namespace",
    "Namespace",
    False,
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    short_names=("ns",),
    subresources={"status": ("get", "patch", "update")},
    fields={**_META_FIELDS, "status.phase": _path("status", "phase")},
)
EVENTS = ResourceType(
    "",
    "v1",
    "events",
    "event",
    "Event",
    True,
    short_names=("ev",),
    fields={
        **_META_FIELDS,
        "involvedObject.kind": _path("involvedObject", "kind"),
        "involvedObject.name": _path("involvedObject", "name"),
        "involvedObject.namespace": _path("involvedObject", "namespace"),
        "involvedObject.uid": _path("involvedObject", "uid"),
        "involvedObject.fieldPath": _path("involvedObject", "fieldPath"),
        "reason": _path("reason"),
        "type": _path("type"),
        "source": _path("source", "component"),
        "reportingComponent": _path("reportingComponent"),
    },
)
EVENTS_V1 = ResourceType(
    "events.k8s.io",
    "v1",
    "events",
    "event",
    "Event",
    True,
    short_names=("ev",),
    fields={**_META_FIELDS, "regarding.name": _path("regarding", "name"), "reason": _path("reason")},
)
DAEMONSETS = ResourceType(
    "apps",
    "v1",
    "daemonsets",
    "daemonset",
    "DaemonSet",
    True,
    short_names=("ds",),
    categories=("all",),
    subresources={"status": ("get", "patch", "update")},
)
JOBS = ResourceType(
    "batch",
    "v1",
    "jobs",
    "job",
    "Job",
    True,
    categories=("all",),
    subresources={"status": ("get", "patch", "update")},
    fields={**_META_FIELDS, "status.successful": _path("status", "succeeded")},
)
RUNTIMECLASSES = ResourceType("node.k8s.io", "v1", "runtimeclasses", "runtimeclass", "RuntimeClass", False)
PDBS = ResourceType(
    "policy",
    "v1",
    "poddisruptionbudgets",
    "poddisruptionbudget",
    "PodDisruptionBudget",
    True,
    short_names=("pdb",),
    subresources={"status": ("get", "patch", "update")},
)
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True)
PEERPODS = ResourceType("confidentialcontainers.org", "v1alpha1", "peerpods", "peerpod", "PeerPod", True)
CONFIGMAPS = ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, short_names=("cm",))
SECRETS = ResourceType("", "v1", "secrets", "secret", "Secret", True)
SERVICEACCOUNTS = ResourceType(
    "", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, short_names=("sa",)
)
CRDS = ResourceType(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition", "CustomResourceDefinition",
    False, verbs=_RO, short_names=("crd", "crds"), categories=("api-extensions",),
)  # fmt: skip
# Reviews: created and answered at once, never stored (``kubectl auth can-i`` and ``auth whoami``).
ACCESS_REVIEWS = ResourceType(
    "authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview",
    False, verbs=("create",),
)  # fmt: skip
SUBJECT_REVIEWS = ResourceType(
    "authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", False,
    verbs=("create",),
)  # fmt: skip
REVIEWS = (ACCESS_REVIEWS, SUBJECT_REVIEWS)
RESOURCESLICES = ResourceType(
    "resource.k8s.io", "v1", "resourceslices", "resourceslice", "ResourceSlice", False, verbs=_RO,
    fields={**_META_FIELDS, "spec.nodeName": _path("spec", "nodeName"), "spec.driver": _path("spec", "driver")},
)  # fmt: skip  # none here: kubectl describe node lists the node's dynamic resources

ALL: tuple[ResourceType, ...] = (
    NODES,
    PODS,
    NAMESPACES,
    EVENTS,
    EVENTS_V1,
    DAEMONSETS,
    JOBS,
    RUNTIMECLASSES,
    PDBS,
    LEASES,
    PEERPODS,
    CONFIGMAPS,
    SECRETS,
    SERVICEACCOUNTS,
    CRDS,
    RESOURCESLICES,
    ACCESS_REVIEWS,
    SUBJECT_REVIEWS,
)

# events.k8s.io/v1 Events are the same objects as core/v1 Events, seen through another schema.
STORAGE_KEY: dict[tuple[str, str], tuple[str, str]] = {EVENTS_V1.key: EVENTS.key}


def by_group_version() -> dict[str, list[ResourceType]]:
    """Resources keyed by apiVersion (``v1``, ``apps/v1``, ...), in discovery order."""
    out: dict[str, list[ResourceType]] = {}
    for rt in ALL:
        out.setdefault(rt.api_version, []).append(rt)
    return out


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at ``group/version/plural``, if any."""
    for rt in ALL:
        if (rt.group, rt.version, rt.plural) == (group, version, plural):
            return rt
    return None


def lookup_plural(plural: str) -> ResourceType:
    """The resource named ``plural`` (``pods``, ``poddisruptionbudgets``, ...)."""
    for rt in ALL:
        if rt.plural == plural:
            return rt
    raise KeyError(plural)


def resource_list(api_version: str) -> dict[str, Any]:
    """The ``APIResourceList`` for one group/version, subresources included."""
    resources: list[dict[str, Any]] = []
    for rt in by_group_version()[api_version]:
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub, verbs in rt.subresources.items():
            sub_entry: dict[str, Any] = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": list(verbs),
            }
            if sub == "eviction":
                sub_entry.update(group="policy", version="v1", kind="Eviction")
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version, "resources": resources}


def aggregated(*, core: bool) -> dict[str, Any]:
    """Aggregated discovery (``apidiscovery.k8s.io/v2``) of the core group (``/api``) or of every
    named group (``/apis``), with their resources, as kubectl asks for first."""
    groups: dict[str, dict[str, list[ResourceType]]] = {}
    for rt in ALL:
        if core == (rt.group == ""):
            groups.setdefault(rt.group, {}).setdefault(rt.version, []).append(rt)

    def resource(rt: ResourceType) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "resource": rt.plural,
            "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "scope": "Namespaced" if rt.namespaced else "Cluster",
            "singularResource": rt.singular,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        if rt.subresources:
            entry["subresources"] = [
                {
                    "subresource": sub,
                    "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"}
                    if sub == "eviction"
                    else {"group": rt.group, "version": rt.version, "kind": rt.kind},
                    "verbs": list(verbs),
                }
                for sub, verbs in rt.subresources.items()
            ]
        return entry

    items = [
        {
            "metadata": {"name": name} if name else {},
            "versions": [
                {"version": version, "resources": [resource(rt) for rt in rts], "freshness": "Current"}
                for version, rts in versions.items()
            ],
        }
        for name, versions in sorted(groups.items(), key=lambda kv: (kv[0] != "apps", kv[0]))
    ]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}
