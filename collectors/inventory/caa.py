"""Cloud API Adaptor images -> CAA releases, and the Kata release each release pins (pure).

CAA release images are tagged with the commit they were built from, not ``vX.Y.Z``: the release
process pins the chart's ``image.tag`` to that commit (``<sha>``, ``dev-<sha>`` for libvirt), and
the chart's default tag is ``latest`` (confidential-containers/cloud-api-adaptor,
``src/cloud-api-adaptor/install/charts/peerpods/values.yaml``). Each release's chart pins kata-deploy
as a subchart (``Chart.yaml`` ``dependencies``), which is the Kata release it was tested with.

``CAA_RELEASES`` is small and bundled, so it works offline. Only commits read from a source are
listed; a tag that is neither a known commit nor a ``vX.Y.Z`` stays unresolved (shown as it is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from store.images import image_tag


@dataclass(frozen=True)
class CaaRelease:
    """One Cloud API Adaptor release: the commit prefixes of its images, and the kata-deploy it pins."""

    version: str
    kata: str  # the kata-deploy chart version its peerpods chart depends on
    commits: tuple[str, ...] = ()  # image tags (commit SHA prefixes) of its release images


# kata-deploy pins: the peerpods chart's Chart.yaml of each release (shared/docs/kata-facts.md, 2026-12).
# Commits: v0.22.0's release image is 61b1aba... (kata-facts.md); the others were not found in the
# stored cloud-api-adaptor repository, so their images resolve only by a vX.Y.Z tag.
CAA_RELEASES: dict[str, CaaRelease] = {
    r.version: r
    for r in (
        CaaRelease("v0.18.0", "3.25.0"),
        CaaRelease("v0.19.0", "3.28.0"),
        CaaRelease("v0.20.0", "3.29.0"),
        CaaRelease("v0.21.0", "3.31.0"),
        CaaRelease("v0.22.0", "4.0.0", ("61b1aba",)),
    )
}
LATEST = "latest"
_SEMVER_TAG = re.compile(r"^v?(\d+\.\d+\.\d+)(?:-(?:amd64|arm64|s390x|ppc64le))?$")
_COMMIT = re.compile(r"^(?:dev-)?([0-9a-f]{7,40})$")
MIN_PREFIX = 7


@dataclass(frozen=True)
class CaaImage:
    """What a node's CAA image says: how to show it, and its release when it can be told."""

    shown: str  # the release (v0.22.0), "latest", or the tag / digest as found
    release: CaaRelease | None = None

    @property
    def expects_kata(self) -> str | None:
        """The Kata release this CAA release pins, if known."""
        return self.release.kata if self.release else None


def _by_commit(sha: str) -> CaaRelease | None:
    for release in CAA_RELEASES.values():
        for commit in release.commits:
            if len(sha) >= MIN_PREFIX and (sha.startswith(commit) or commit.startswith(sha)):
                return release
    return None


def resolve_caa_image(image: str) -> CaaImage | None:
    """``quay.io/confidential-containers/cloud-api-adaptor:61b1aba...`` -> v0.22.0; None for no image."""
    if not image:
        return None
    digest, tag = image.partition("@")[2], image_tag(image)
    if tag is None:
        if digest:  # no digest is bundled: a digest alone cannot be told apart
            return CaaImage(digest[:19])
        return CaaImage(LATEST)  # an untagged reference pulls latest
    if tag == LATEST:
        return CaaImage(LATEST)
    if (m := _SEMVER_TAG.match(tag)) is not None:
        version = f"v{m[1]}"
        return CaaImage(version, CAA_RELEASES.get(version))
    if (m := _COMMIT.match(tag.lower())) is not None:
        release = _by_commit(m[1])
        return CaaImage(release.version, release) if release else CaaImage(tag[:40])
    return CaaImage(tag[:64])


def caa_release(shown: str | None) -> CaaRelease | None:
    """The CAA release behind a stored ``caa_version`` (as ``resolve_caa_image`` showed it)."""
    return CAA_RELEASES.get(shown or "")
