"""The two reviews kubectl sends about itself: ``auth can-i`` and ``auth whoami``.

The in-memory API server has one user, the kubeconfig's token, allowed everything (as
``system:masters`` on a real cluster), so both answers are fixed. The real control plane
answers them from its authenticator and RBAC.
"""

from __future__ import annotations

from typing import Any

from simulator import resources as r

USER = {"username": "sim-admin", "groups": ["system:masters", "system:authenticated"]}


def review(rt: r.ResourceType, body: dict[str, Any]) -> dict[str, Any]:
    """The answered review for a created ``SelfSubjectAccessReview`` or ``SelfSubjectReview``."""
    meta = {"creationTimestamp": None, **(body.get("metadata") or {})}
    if rt is r.ACCESS_REVIEWS:
        status = {"allowed": True, "reason": "the simulator's token is allowed everything (system:masters)"}
        return {
            "kind": rt.kind,
            "apiVersion": rt.api_version,
            "metadata": meta,
            "spec": body.get("spec") or {},
            "status": status,
        }
    return {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta, "status": {"userInfo": USER}}
