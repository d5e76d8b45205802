"""Raw-JSON reads from the Kubernetes API through the official client's transport.

The official client's models cost more to build than the HTTP round trip at 10,000 nodes and
200,000 pods, so lists are read page by page (limit/continue) as plain JSON, and watches as
JSON lines, all decoded by ``clients.kube.decode``: to dicts, or with ``list_typed`` into
shapes that name only the fields wanted. Authentication, TLS and proxies stay the official client's.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

import urllib3
from kubernetes.client.exceptions import ApiException

from clients.failures import plain_reason
from clients.kube.config import Context
from clients.kube.decode import decode, decode_as
from clients.kube.errors import KubeConnectionError, KubeServerError, from_status
from clients.kube.objects import Page

PAGE_SIZE = 500
SERVER_BACKOFF_S = (0.1, 0.3)  # after a 5xx: wait, ask again; two more tries in all
T = TypeVar("T")


class Retry(Protocol):
    """Wraps one request (the collector's backoff for temporary errors)."""

    def __call__(self, call: Callable[[], T]) -> T: ...


class KubeClient:
    """GET, paged LIST, WATCH and writes against one cluster, with plain JSON in and out."""

    def __init__(self, context: Context, *, timeout: float = 30.0) -> None:
        self.context = context
        self.timeout = timeout
        self.requests = 0
        self.retries = 0  # 5xx answers asked again

    @property
    def name(self) -> str:
        """The kubeconfig context name."""
        return self.context.name

    def _request(
        self,
        path: str,
        params: Mapping[str, str | int],
        *,
        timeout: float | tuple[float, float],
        method: str = "GET",
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """One request; a 5xx answer is asked again after a short backoff (``SERVER_RETRIES`` times).

        The API server answers 5xx without acting (an etcd leader change, an overloaded
        apiserver), and every write fleetctl sends is safe to repeat: patches set values,
        deletes and evictions of a gone pod answer 404, creates of an existing name 409."""
        for pause in (*SERVER_BACKOFF_S, None):
            try:
                return self._once(path, params, timeout=timeout, method=method, body=body, content_type=content_type)
            except KubeServerError:
                if pause is None:
                    raise
                self.retries += 1
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _once(
        self,
        path: str,
        params: Mapping[str, str | int],
        *,
        timeout: float | tuple[float, float],
        method: str,
        body: Any,
        content_type: str,
    ) -> Any:
        api = self.context.api
        query = [(k, str(v)) for k, v in params.items()]
        headers_in = {"Accept": "application/json"}
        if body is not None:
            headers_in["Content-Type"] = content_type
        method, url, headers, data, _ = api.param_serialize(
            method, path, query_params=query, header_params=headers_in, body=body, auth_settings=["BearerToken"]
        )
        self.requests += 1
        where = f"context {self.name}: {method} {path}"
        try:
            response = api.call_api(method, url, header_params=headers, body=data, _request_timeout=timeout)
        except ApiException as exc:
            raise KubeConnectionError(
                str(exc.reason or exc).splitlines()[0][:300],
                where=where,
                hint="check the cluster is reachable and its CA is right",
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeConnectionError(
                f"cannot reach the API server: {plain_reason(exc, timeout_s=_read_timeout(timeout))}",
                where=where,
                hint="check the cluster is reachable (kubectl cluster-info)",
            ) from None
        if response.status >= 400:
            body = response.read()
            raise from_status(response.status, body, where=where, retry_after=response.headers.get("Retry-After"))
        return response

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str | int] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One write (POST, PUT, PATCH, DELETE), decoded. Patches pass their content type."""
        response = self._request(
            path, params or {}, timeout=self.timeout, method=method, body=body, content_type=content_type
        )
        return decode(response.read() or b"{}", f"context {self.name}: {method} {path}")

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        """One GET, decoded."""
        response = self._request(path, params or {}, timeout=self.timeout)
        return decode(response.read(), f"context {self.name}: GET {path}")

    def list_typed(
        self,
        path: str,
        item: type[T],
        params: Mapping[str, str | int] | None = None,
        *,
        limit: int = PAGE_SIZE,
        retry: Retry | None = None,
    ) -> Iterator[Page[T]]:
        """Every page of a list, each item decoded into ``item`` (a msgspec Struct), skipping the fields it does not name."""
        query: dict[str, str | int] = {**(params or {}), "limit": limit}
        where = f"context {self.name}: LIST {path}"
        shape = Page[item]  # type: ignore[valid-type]

        def fetch(q: dict[str, str | int]) -> Page[T]:
            page: Page[T] = decode_as(self._request(path, q, timeout=self.timeout).read(), shape, where)
            return page

        while True:
            request = functools.partial(fetch, dict(query))
            page = retry(request) if retry else request()
            yield page
            if not page.metadata.next:
                return
            query["continue"] = page.metadata.next

    def list_pages(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        limit: int = PAGE_SIZE,
        retry: Retry | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every page of a list; the last page's ``metadata.resourceVersion`` is the list's.

        ``retry`` wraps each page's request (the collector's backoff), so a temporary error
        retries that page with the same continue token instead of restarting the list.
        """
        query: dict[str, str | int] = {**(params or {}), "limit": limit}
        while True:
            request = functools.partial(self.get, path, dict(query))
            page = retry(request) if retry else request()
            yield page
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            query["continue"] = token

    def watch(
        self,
        path: str,
        resource_version: str,
        params: Mapping[str, str | int] | None = None,
        *,
        timeout_seconds: int = 300,
    ) -> Iterator[dict[str, Any]]:
        """Watch events after ``resource_version``, bookmarks included; ends when the server closes.

        A 410 (as an HTTP status or an ERROR event) raises ``KubeGone``: the caller relists.
        """
        query: dict[str, str | int] = {
            **(params or {}),
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
        }
        response = self._request(path, query, timeout=(self.timeout, timeout_seconds + self.timeout))
        raw = response.response
        where = f"context {self.name}: WATCH {path}"
        finished = False
        try:
            buffer = b""
            for chunk in raw.stream(65536, decode_content=True):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    event = decode(line, where)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise from_status(int(status.get("code") or 500), json.dumps(status), where=where)
                    yield event
            finished = True
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeConnectionError(f"watch interrupted: {type(exc).__name__}", where=where) from None
        finally:
            if not finished:
                # Stopped mid-stream: the rest of the stream is still on the socket. Returning this
                # connection to the pool would hand those bytes to the next request as its answer.
                raw.close()
            raw.release_conn()


def _read_timeout(timeout: float | tuple[float, float]) -> float:
    """The time a request waits for an answer: the read part of a (connect, read) pair."""
    return timeout[1] if isinstance(timeout, tuple) else timeout
