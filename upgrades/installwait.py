"""What every install mechanism waits for, and how it tells a failing installer (pure)."""

from __future__ import annotations

from collections.abc import Callable

from upgrades.ports import ClusterAPI, Node, Pod

INSTALL_FAILURES = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName")


def reports_target(ops: ClusterAPI, pins: dict[str, str], target: str) -> Callable[[Node], bool]:
    """A test of a Node object: it reports ``target``, its Kata label is ``true``, and it is Ready."""

    def reached(obj: Node) -> bool:
        facts = ops.facts(obj, pins)
        return facts.kata_version == target and facts.kata_label == "true" and bool(facts.ready)

    return reached


def install_failure(pod: Pod) -> str | None:
    """``Reason: message`` when one of the pod's containers waits on an install failure."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in INSTALL_FAILURES:
            return f"{waiting['reason']}: {waiting.get('message', '')}"
    return None
