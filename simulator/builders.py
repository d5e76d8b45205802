"""Kubernetes objects in their real wire format: nodes, pods, DaemonSets, PDBs, events and more."""

from __future__ import annotations

from typing import Any

from simulator import kata

Obj = dict[str, Any]

NODE_CONDITIONS = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)


def node_conditions(ready: bool, at: str, *, reason: str | None = None, message: str | None = None) -> list[Obj]:
    """The kubelet's four standard conditions."""
    conditions = [
        {"type": t, "status": "False", "lastHeartbeatTime": at, "lastTransitionTime": at, "reason": r, "message": m}
        for t, r, m in NODE_CONDITIONS
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "lastHeartbeatTime": at,
            "lastTransitionTime": at,
            "reason": reason or ("KubeletReady" if ready else "KubeletNotReady"),
            "message": message or ("kubelet is posting ready status" if ready else "container runtime is down"),
        }
    )
    return conditions


def node(
    spec: Any, *, uid: str, at: str, labels: dict[str, str], annotations: dict[str, str], handlers: list[str]
) -> Obj:
    """A Node as the kubelet registers it, with Kata's labels, handlers and the reporter's annotations."""
    cpus = str(spec.cpus)
    allocatable_cpu = f"{spec.cpus * 1000 - 500}m"
    memory = f"{spec.memory_gib * 1024 * 1024}Ki"
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {"name": spec.name, "uid": uid, "labels": labels, "annotations": annotations},
        "spec": {"podCIDR": spec.pod_cidr, "podCIDRs": [spec.pod_cidr], "providerID": f"sim://{spec.zone}/{spec.name}"},
        "status": {
            "capacity": {"cpu": cpus, "memory": memory, "pods": "110", "ephemeral-storage": "262144000Ki"},
            "allocatable": {
                "cpu": allocatable_cpu,
                "memory": memory,
                "pods": "110",
                "ephemeral-storage": "241591910Ki",
            },
            "conditions": node_conditions(True, at),
            "addresses": [{"type": "InternalIP", "address": spec.ip}, {"type": "Hostname", "address": spec.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": spec.machine_id,
                "systemUUID": spec.system_uuid,
                "bootID": spec.boot_id,
                "kernelVersion": spec.host["kernel"],
                "osImage": spec.host["os_image"],
                "containerRuntimeVersion": "containerd://2.0.5",
                "kubeletVersion": "v1.33.4",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": spec.arch,
            },
            "runtimeHandlers": kata.runtime_handlers_status(handlers),
        },
    }


def owner(kind: str, api_version: str, name: str, uid: str) -> Obj:
    """A controller ownerReference."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod(
    *,
    name: str,
    namespace: str,
    node_name: str | None,
    labels: dict[str, str],
    image: str,
    container: str,
    owner_ref: Obj | None = None,
    runtime_class: str | None = None,
    cpu: str = "100m",
    memory: str = "128Mi",
    empty_dir: bool = False,
    active_deadline: int | None = None,
    restart_policy: str = "Always",
) -> Obj:
    """A Pod as a controller would create it (status filled in by the simulator's kubelet)."""
    spec: Obj = {
        "containers": [
            {
                "name": container,
                "image": image,
                "resources": {"requests": {"cpu": cpu, "memory": memory}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }
        ],
        "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "schedulerName": "default-scheduler",
        "enableServiceLinks": True,
        "priority": 0,
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ],
    }
    if node_name:
        spec["nodeName"] = node_name
    if runtime_class:
        spec["runtimeClassName"] = runtime_class
        mem, cpu_overhead = kata.RUNTIME_CLASSES.get(runtime_class, ("160Mi", "250m"))
        spec["overhead"] = {"memory": mem, "cpu": cpu_overhead}
    if empty_dir:
        spec["volumes"] = [{"name": "workspace", "emptyDir": {}}]
        spec["containers"][0]["volumeMounts"] = [{"name": "workspace", "mountPath": "/workspace"}]
    if active_deadline:
        spec["activeDeadlineSeconds"] = active_deadline
    meta: Obj = {"name": name, "namespace": namespace, "labels": labels}
    if owner_ref:
        meta["ownerReferences"] = [owner_ref]
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": meta,
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": qos_class(spec)},
    }


def qos_class(spec: Obj) -> str:
    """The pod's QoS class, as the API server works it out on create: BestEffort with no requests
    or limits, Guaranteed when every container's limits equal its requests for cpu and memory."""
    containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(k) and (r.get("requests") or r.get("limits") or {}).get(k) == r["limits"][k]
        for r in resources
        for k in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def daemonset(
    name: str,
    namespace: str,
    *,
    labels: dict[str, str],
    image: str,
    container: str,
    strategy: str,
    node_selector: dict[str, str] | None = None,
) -> Obj:
    """A DaemonSet with one container."""
    template_spec: Obj = {
        "containers": [
            {
                "name": container,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {"privileged": True},
            }
        ],
        "serviceAccountName": f"{name}-sa",
        "hostPID": True,
        "tolerations": [{"operator": "Exists"}],
    }
    if node_selector:
        template_spec["nodeSelector"] = node_selector
    update: Obj = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"maxUnavailable": 1, "maxSurge": 0}
    return {
        "kind": "DaemonSet",
        "apiVersion": "apps/v1",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": template_spec},
            "updateStrategy": update,
            "revisionHistoryLimit": 10,
        },
        "status": {},
    }


def pdb(
    name: str,
    namespace: str,
    selector: dict[str, str],
    *,
    max_unavailable: int | None = None,
    min_available: int | None = None,
) -> Obj:
    """A policy/v1 PodDisruptionBudget."""
    spec: Obj = {"selector": {"matchLabels": dict(selector)}}
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    if min_available is not None:
        spec["minAvailable"] = min_available
    return {
        "kind": "PodDisruptionBudget",
        "apiVersion": "policy/v1",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def runtime_class(name: str) -> Obj:
    """A kata-deploy RuntimeClass: handler = name, the real pod overhead, scheduled onto Kata nodes."""
    memory, cpu = kata.RUNTIME_CLASSES[name]
    return {
        "kind": "RuntimeClass",
        "apiVersion": "node.k8s.io/v1",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "Helm"}},
        "handler": name,
        "overhead": {"podFixed": {"memory": memory, "cpu": cpu}},
        "scheduling": {"nodeSelector": {kata.LABEL_RUNTIME: "true"}},
    }


def namespace(name: str) -> Obj:
    """An active Namespace."""
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def event(
    *,
    name: str,
    namespace: str,
    involved: Obj,
    reason: str,
    message: str,
    type_: str,
    component: str,
    host: str | None,
    at: str,
) -> Obj:
    """A core/v1 Event about ``involved`` (kind, name, namespace, uid)."""
    source: Obj = {"component": component}
    if host:
        source["host"] = host
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": at,
        "lastTimestamp": at,
        "count": 1,
        "type": type_,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": host or "",
    }


def events_v1_view(core: Obj) -> Obj:
    """The same Event seen through events.k8s.io/v1."""
    meta = core["metadata"]
    out: Obj = {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": meta,
        "eventTime": core.get("eventTime"),
        "reportingController": core.get("reportingComponent") or core.get("source", {}).get("component", ""),
        "reportingInstance": core.get("reportingInstance", ""),
        "action": core.get("reason", ""),
        "reason": core.get("reason", ""),
        "regarding": core.get("involvedObject", {}),
        "note": core.get("message", ""),
        "type": core.get("type", "Normal"),
        "deprecatedSource": core.get("source", {}),
        "deprecatedFirstTimestamp": core.get("firstTimestamp"),
        "deprecatedLastTimestamp": core.get("lastTimestamp"),
        "deprecatedCount": core.get("count", 1),
    }
    return out


def peer_pod(pod_obj: Obj, instance_id: str, provider: str) -> Obj:
    """A Cloud API Adaptor PeerPod, owned by its Pod."""
    meta = pod_obj["metadata"]
    return {
        "kind": "PeerPod",
        "apiVersion": "confidentialcontainers.org/v1alpha1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "ownerReferences": [owner("Pod", "v1", meta["name"], meta.get("uid", ""))],  # "": filled in when created
        },
        "spec": {"cloudProvider": provider, "instanceID": instance_id},
    }


def peerpod_crd() -> Obj:
    """The Cloud API Adaptor's PeerPod CustomResourceDefinition (confidentialcontainers.org/v1alpha1)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "peerpods.confidentialcontainers.org"},
        "spec": {
            "group": "confidentialcontainers.org",
            "names": {"kind": "PeerPod", "listKind": "PeerPodList", "plural": "peerpods", "singular": "peerpod"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "cloudProvider": {"type": "string"},
                                        "instanceID": {"type": "string"},
                                    },
                                },
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        }
                    },
                }
            ],
        },
        "status": {
            "acceptedNames": {
                "kind": "PeerPod",
                "listKind": "PeerPodList",
                "plural": "peerpods",
                "singular": "peerpod",
            },
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                },
            ],
            "storedVersions": ["v1alpha1"],
        },
    }


def service_account(name: str, namespace: str) -> Obj:
    """A ServiceAccount (every namespace has ``default``)."""
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}


def node_lease(name: str, at_micro: str, seconds: int = 40) -> Obj:
    """A node's heartbeat Lease in ``kube-node-lease``."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": seconds, "renewTime": at_micro},
    }
