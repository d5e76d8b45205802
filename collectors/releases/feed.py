"""Reading release feeds: the bundled catalog, and GitHub's releases JSON from a URL or a file.

GitHub's ``GET /repos/kata-containers/kata-containers/releases`` returns
``[{tag_name, name, draft, prerelease, published_at, assets: [{name, size, browser_download_url}]}]``.
A feed carries no guest kernel pins; those come from the bundled catalog and are never erased.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clients.failures import plain_reason
from collectors.releases.schema import load_catalog
from store.errors import BadInputError, UnreachableError
from store.releases import ReleaseInfo
from store.versions import KataVersion

_STATIC = re.compile(
    r"^kata-(?:go-)?static-(?P<version>[^-]+(?:-[a-z]+\d+)?)-(?P<arch>amd64|arm64|s390x|ppc64le)\.tar\.(?:xz|zst)$"
)
FETCH_TIMEOUT_S = 20
MAX_FEED_BYTES = 32 * 1024 * 1024


def bundled_catalog() -> list[ReleaseInfo]:
    """The catalog shipped with fleetctl (works offline), oldest first.

    ``guest_kernel`` is the default flavour's pin; a release whose date no source gives has no
    ``published_at``. The per-flavour kernels and the sources stay in :mod:`collectors.releases.schema`.
    """
    return [
        ReleaseInfo(
            version=r.version,
            published_at=datetime.combine(r.date, datetime.min.time(), UTC) if r.date else None,
            guest_kernel=r.guest_kernel,
            hypervisors=dict(r.hypervisors),
            arches=r.arches,
            assets=r.assets,
        )
        for r in load_catalog().releases
    ]


def load_feed(source: str) -> list[ReleaseInfo]:
    """Read a GitHub releases JSON document from an http(s) URL or a file."""
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(
                urllib.request.Request(source, headers={"Accept": "application/vnd.github+json"}),
                timeout=FETCH_TIMEOUT_S,
            ) as resp:
                raw = resp.read(MAX_FEED_BYTES + 1)
        except OSError as exc:
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()  # its body is the error page, unread
            raise UnreachableError(
                f"cannot fetch the release feed: {plain_reason(exc, timeout_s=FETCH_TIMEOUT_S)}",
                where=source,
                hint="check the URL, or use --from FILE, or run without --from for the bundled catalog",
            ) from None
    else:
        path = Path(source)
        if not path.is_file():
            raise BadInputError(
                "release feed file not found", where=source, hint="pass a GitHub releases JSON file or an https:// URL"
            )
        raw = path.read_bytes()[: MAX_FEED_BYTES + 1]
    if len(raw) > MAX_FEED_BYTES:
        raise BadInputError(f"release feed is larger than {MAX_FEED_BYTES // 2**20} MiB", where=source)
    return parse_feed(raw, where=source)


def parse_feed(raw: bytes | str, *, where: str = "release feed") -> list[ReleaseInfo]:
    """Parse GitHub releases JSON. Drafts and tags that are not Kata versions are skipped."""
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadInputError(
            f"not valid JSON: {str(exc)[:120]}",
            where=where,
            hint="expected the JSON of GET /repos/kata-containers/kata-containers/releases",
        ) from None
    if not isinstance(data, list):
        raise BadInputError(
            "expected a JSON list of releases",
            where=where,
            hint="expected the JSON of GET /repos/kata-containers/kata-containers/releases",
        )
    out: list[ReleaseInfo] = []
    seen: dict[str, int] = {}  # version -> the entry that listed it first
    for i, item in enumerate(data):
        at = f"{where}: [{i}]"
        if not isinstance(item, dict):
            raise BadInputError("a release must be a JSON object", where=at)
        tag = item.get("tag_name")
        if not isinstance(tag, str) or not tag:
            raise BadInputError(
                "tag_name is missing or not a string", where=at, hint="each release needs a tag_name such as 4.1.0"
            )
        if item.get("draft") is True:
            continue
        try:
            version = KataVersion.parse(tag)
        except BadInputError:
            continue  # other tags in the repository (such as tools' own) are not Kata releases
        if str(version) in seen:
            raise BadInputError(
                f"release {version} is listed twice (tag {tag!r}, and entry [{seen[str(version)]}])",
                where=at,
                hint="a feed lists each release once; remove the duplicate",
            )
        seen[str(version)] = i
        assets = item.get("assets") or []
        if not isinstance(assets, list):
            raise BadInputError("assets must be a list", where=f"{at}.assets")
        kept, arches = [], set()
        for j, asset in enumerate(assets):
            if not isinstance(asset, dict) or not isinstance(asset.get("name"), str):
                raise BadInputError("an asset needs a name", where=f"{at}.assets[{j}]")
            kept.append({k: asset[k] for k in ("name", "size", "browser_download_url") if k in asset})
            m = _STATIC.match(asset["name"])
            if m:
                arches.add(m["arch"])
        out.append(
            ReleaseInfo(
                version=str(version),
                published_at=_timestamp(item.get("published_at"), f"{at}.published_at"),
                prerelease=bool(item.get("prerelease")) or not version.is_release,
                arches=tuple(sorted(arches)),
                assets=tuple(kept),
            )
        )
    return out


def _timestamp(value: Any, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadInputError("published_at must be a string", where=where)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise BadInputError(f"published_at {value[:40]!r} is not an ISO 8601 time", where=where) from None
