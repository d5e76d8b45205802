"""Container image references: the tag (a Kata release, in kata-deploy's) and the same image at another tag."""

from __future__ import annotations


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``quay.io/kata-containers/kata-deploy:4.1.0`` -> ``4.1.0``), or
    None when it has none; a digest and a registry port are not tags."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def image_for(current: str, version: str) -> str:
    """The same image reference with ``version`` as its tag (a mirror registry stays)."""
    repo = current.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    return f"{repo}:{version}"
