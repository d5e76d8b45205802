"""Kubernetes protobuf request bodies, for the kinds ``kubectl create`` sends that way.

kubectl (client-go 1.3x) writes built-in objects as ``application/vnd.kubernetes.protobuf``: the
magic ``k8s\\0``, then a ``runtime.Unknown`` whose ``raw`` is the object's own message. The
in-memory API server decodes the simple kinds into the JSON it stores (field numbers from
``k8s.io/api`` and ``k8s.io/apimachinery`` ``generated.proto``); others get a 415 that says so.
Answers stay JSON, which every client accepts. The real control plane speaks protobuf itself.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
Schema = dict[int, tuple[str, str]]  # field number -> (JSON name, kind)

TIME: Schema = {1: ("seconds", "int"), 2: ("nanos", "int")}
OWNER: Schema = {
    1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"), 5: ("apiVersion", "string"),
    6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool"),
}  # fmt: skip
META: Schema = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"), 5: ("uid", "string"),
    6: ("resourceVersion", "string"), 7: ("generation", "int"), 8: ("creationTimestamp", "time"),
    10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", "map:string"), 12: ("annotations", "map:string"),
    13: ("ownerReferences", "list:owner"), 14: ("finalizers", "list:string"),
}  # fmt: skip
REFERENCE: Schema = {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"), 4: ("uid", "string")}
NAMES: Schema = {1: ("name", "string")}
KINDS: dict[str, Schema] = {
    "Namespace": {1: ("metadata", "meta"), 2: ("spec", "nsspec")},
    "ConfigMap": {1: ("metadata", "meta"), 2: ("data", "map:string"), 3: ("binaryData", "map:bytes"), 4: ("immutable", "bool")},
    "Secret": {
        1: ("metadata", "meta"), 2: ("data", "map:bytes"), 3: ("type", "string"), 4: ("stringData", "map:string"),
        5: ("immutable", "bool"),
    },
    "ServiceAccount": {
        1: ("metadata", "meta"), 2: ("secrets", "list:reference"), 3: ("imagePullSecrets", "list:names"),
        4: ("automountServiceAccountToken", "bool"),
    },
    "SelfSubjectAccessReview": {1: ("metadata", "meta"), 2: ("spec", "ssarspec")},
    "SelfSubjectReview": {1: ("metadata", "meta")},
}  # fmt: skip
_NESTED: dict[str, Schema] = {
    "meta": META, "time": TIME, "owner": OWNER, "reference": REFERENCE, "names": NAMES,
    "nsspec": {1: ("finalizers", "list:string")},
    "ssarspec": {1: ("resourceAttributes", "resattrs"), 2: ("nonResourceAttributes", "nonresattrs")},
    "resattrs": {
        1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"), 4: ("version", "string"),
        5: ("resource", "string"), 6: ("subresource", "string"), 7: ("name", "string"),
    },
    "nonresattrs": {1: ("path", "string"), 2: ("verb", "string")},
}  # fmt: skip


class ProtobufError(ValueError):
    """The body is not a protobuf message this server can read."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one message: varints as ints, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return out


def _value(kind: str, raw: int | bytes) -> Any:
    if kind in ("int", "bool"):
        if not isinstance(raw, int):
            raise ProtobufError(f"expected a varint for a {kind}")
        return bool(raw) if kind == "bool" else raw
    if not isinstance(raw, bytes):
        raise ProtobufError(f"expected bytes for a {kind}")
    if kind == "string":
        return raw.decode()
    if kind == "bytes":
        return base64.b64encode(raw).decode()
    if kind == "time":
        stamp = message(raw, TIME)
        return datetime.fromtimestamp(int(stamp.get("seconds", 0)), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return message(raw, _NESTED[kind])


def message(data: bytes, schema: Schema) -> dict[str, Any]:
    """Decode one message as JSON by ``schema``; unknown fields are dropped."""
    out: dict[str, Any] = {}
    for number, raw in fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if kind.startswith("map:"):
            if not isinstance(raw, bytes):
                raise ProtobufError("a map entry must be length-delimited")
            entry = dict(fields(raw))
            key, value = entry.get(1, b""), entry.get(2, b"")
            if not isinstance(key, bytes) or not isinstance(value, bytes):
                raise ProtobufError("a map entry must hold bytes")
            out.setdefault(name, {})[key.decode()] = _value(kind[4:], value)
        elif kind.startswith("list:"):
            out.setdefault(name, []).append(_value(kind[5:], raw))
        elif (value := _value(kind, raw)) not in ("", 0, {}, None) and not (kind == "time" and raw == b""):
            out[name] = value  # an unset field is sent as its zero value: JSON leaves it out
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body as the JSON object it stands for."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body lacks the k8s protobuf envelope")
    envelope = dict(fields(body[len(MAGIC) :]))
    type_meta, raw = envelope.get(1, b""), envelope.get(2, b"")
    if not isinstance(type_meta, bytes) or not isinstance(raw, bytes):
        raise ProtobufError("a malformed runtime.Unknown envelope")
    meta = message(type_meta, {1: ("apiVersion", "string"), 2: ("kind", "string")})
    kind = str(meta.get("kind", ""))
    if kind not in KINDS:
        raise ProtobufError(
            f"this in-memory server decodes protobuf bodies only for {', '.join(KINDS)} (not {kind or 'this kind'}); "
            "send JSON, or use the real control plane (--backend kube-apiserver)"
        )
    return {"apiVersion": meta.get("apiVersion", "v1"), "kind": kind, **message(raw, KINDS[kind])}
