"""kubectl's ``-l`` label selectors, translated into the query language (pure)."""

from __future__ import annotations

import json
import re

from store.query.parser import QuerySyntaxError

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p for p in (*parts, cur) if p.strip()]


def label(key: str) -> str:
    """The query language's reference to a label."""
    return f"label[{json.dumps(key)}]"


def selector_to_query(selector: str) -> str:
    """``app=web,tier in (a,b),!gpu`` -> an equivalent query over ``label[...]``."""
    terms = []
    for clause in _split(selector):
        if m := _SET.match(clause):
            values = ", ".join(json.dumps(v.strip()) for v in m[3].split(",") if v.strip())
            terms.append(f"{label(m[1])} {'not in' if m[2] == 'notin' else 'in'} ({values})")
        elif m := _EQ.match(clause):
            terms.append(f"{label(m[1])} {'!=' if m[2] == '!=' else '='} {json.dumps(m[3])}")
        elif m := _EXISTS.match(clause):
            terms.append(f'{"not " if m[1] else ""}{label(m[2])} ~ "*"')
        else:
            raise QuerySyntaxError(
                f"cannot parse label selector clause {clause.strip()!r}",
                where="-l",
                hint="write it as kubectl does: key=value,key!=value,key in (a,b),!key",
            )
    return " and ".join(f"({t})" for t in terms)
