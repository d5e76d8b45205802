"""Label and field selectors, parsed the way the API server parses them.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``,
joined by commas. Field selectors: ``path=value``, ``path==value``, ``path!=value`` over the
fields each resource supports; anything else is a 400, as a real API server answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_KEY = r"(?:[a-z0-9A-Z](?:[-a-z0-9A-Z_.]*[a-z0-9A-Z])?/)?[a-z0-9A-Z](?:[-a-z0-9A-Z_.]*[a-z0-9A-Z])?"
_VALUE = r"(?:[a-z0-9A-Z](?:[-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(\s*([^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


class SelectorError(ValueError):
    """A selector the API server would reject with 400."""


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when ``labels`` satisfy this clause."""
        has = self.key in labels
        if self.op == "exists":
            return has
        if self.op == "!exists":
            return not has
        if self.op in ("=", "in"):
            return has and labels[self.key] in self.values
        return not has or labels[self.key] not in self.values  # "!=", "notin"


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse ``?labelSelector=``; an empty selector matches everything."""
    if not text:
        return []
    out: list[Requirement] = []
    for clause in _split_top_level(text):
        if m := _SET_RE.match(clause):
            values = frozenset(v.strip() for v in m[3].split(",") if v.strip())
            out.append(Requirement(m[1], m[2], values))
        elif m := _EQ_RE.match(clause):
            out.append(Requirement(m[1], "!=" if m[2] == "!=" else "=", frozenset({m[3]})))
        elif m := _EXISTS_RE.match(clause):
            out.append(Requirement(m[2], "!exists" if m[1] else "exists"))
        else:
            raise SelectorError(f'unable to parse requirement: found "{clause}", expected a label selector clause')
    return out


def labels_match(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    """True when every requirement holds."""
    labels = labels or {}
    return all(r.matches(labels) for r in requirements)


def match_labels_selector(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """A ``LabelSelector`` object (matchLabels/matchExpressions) as requirements."""
    if not selector:
        return []
    reqs = [Requirement(k, "=", frozenset({v})) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in selector.get("matchExpressions") or []:
        reqs.append(Requirement(expr["key"], ops[expr["operator"]], frozenset(expr.get("values") or [])))
    return reqs


FieldGetter = Callable[[Mapping[str, Any]], str]


def parse_field_selector(
    text: str | None, supported: Mapping[str, FieldGetter], kind: str
) -> list[tuple[FieldGetter, bool, str]]:
    """Parse ``?fieldSelector=`` into (getter, equal?, value) triples for the fields ``kind`` supports."""
    if not text:
        return []
    out = []
    for clause in _split_top_level(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", clause)
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{clause}'")
        field, op, value = m[1], m[2], m[3]
        if field not in supported:
            raise SelectorError(
                f'"{field}" is not a known field selector: only "{", ".join(sorted(supported))}" for {kind}'
            )
        out.append((supported[field], op != "!=", value))
    return out


def fields_match(clauses: list[tuple[FieldGetter, bool, str]], obj: Mapping[str, Any]) -> bool:
    """True when every field clause holds for ``obj``."""
    return all((getter(obj) == value) == equal for getter, equal, value in clauses)
