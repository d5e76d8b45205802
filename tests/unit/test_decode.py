"""The API's JSON, decoded by msgspec; what only the standard library reads is still read."""

from __future__ import annotations

import pytest

from clients.kube.decode import decode, decode_as
from clients.kube.errors import KubeServerError
from clients.kube.objects import Page, Pod

PAGE = (
    b'{"kind":"PodList","metadata":{"resourceVersion":"7","continue":"tok"},"items":[{"metadata":'
    b'{"name":"p","namespace":"ci","labels":{"app":"x"},"uid":"u"},"spec":{"nodeName":"n1",'
    b'"runtimeClassName":"kata-qemu","containers":[{"image":"i:1","name":"c"}]},"status":{"phase":"Running",'
    b'"startTime":"2026-12-01T00:00:00Z","containerStatuses":[{"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}]}'
)


def test_a_page_decodes_into_the_fields_read() -> None:
    page = decode_as(PAGE, Page[Pod], "test")
    (pod,) = page.items
    assert (page.metadata.resourceVersion, page.metadata.next) == ("7", "tok")
    assert (pod.metadata.name, pod.spec.nodeName, pod.spec.runtimeClassName, pod.image) == (
        "p",
        "n1",
        "kata-qemu",
        "i:1",
    )
    assert (
        pod.status.containerStatuses[0].state.waiting
        and pod.status.containerStatuses[0].state.waiting.reason == "CrashLoopBackOff"
    )
    assert decode(PAGE, "test")["items"][0]["metadata"]["uid"] == "u"  # to dicts: every field


def test_a_lone_surrogate_escape_is_read_not_a_failed_list() -> None:
    body = b'{"items":[{"metadata":{"name":"n","annotations":{"a":"4.1.0\\udcff"}}}]}'
    assert decode(body, "test")["items"][0]["metadata"]["annotations"]["a"] == "4.1.0\udcff"
    hostile = b'{"items":[{"metadata":{"name":"p\\udcff"}}]}'
    assert decode_as(hostile, Page[Pod], "test").items[0].metadata.name == "p\udcff"


@pytest.mark.parametrize("body", [b"<html>", b"[1, 2]", b'{"items": 3}'])
def test_what_is_not_the_api_s_json_is_a_server_error(body: bytes) -> None:
    with pytest.raises(KubeServerError):
        decode_as(body, Page[Pod], "test") if body.startswith(b"{") else decode(body, "test")
