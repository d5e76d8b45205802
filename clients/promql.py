"""Adding a label matcher to every vector selector of a PromQL query, on a tokenizer.

One Prometheus (Thanos, Mimir) for many clusters tells them apart by a label, so every health
and gate query of a cluster must select only that cluster's series: ``with_matcher`` adds
``label="value"`` to each vector selector (``metric``, ``metric{...}``, ``{...}``) and leaves
everything else alone: function names, aggregation operators and their ``by``/``without`` label
lists, ``on``/``ignoring``/``group_left``/``group_right`` lists, ``bool``, ``offset``, ``@``,
durations, string and number literals, and range and subquery brackets.

It rewrites the text, not a syntax tree: a query it cannot read is left for Prometheus to
refuse with its own message, except for unbalanced brackets, which are an error here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

KEYWORDS = frozenset(
    {
        # binary set operators and the modifiers of binary operators
        "and", "or", "unless", "bool", "on", "ignoring", "group_left", "group_right",
        # aggregation operators and their modifiers
        "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk",
        "quantile", "count_values", "limitk", "limit_ratio", "by", "without",
        # selector modifiers
        "offset",
        # number literals
        "inf", "nan",
    }
)  # fmt: skip
LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<number>0[xX][0-9a-fA-F]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?(?:[a-zA-Z][0-9a-zA-Z]*)*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,@:(){}\[\]])
    """,
    re.VERBOSE,
)


class PromQLError(ValueError):
    """A query that cannot be rewritten (unbalanced brackets, an unknown character)."""


class MatcherConflict(PromQLError):
    """The query already has a matcher on the label fleetctl adds."""


@dataclass(frozen=True)
class Token:
    """One lexeme: its kind (``ws``, ``string``, ``number``, ``ident``, ``op``), text and offset."""

    kind: str
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def tokenize(query: str) -> list[Token]:
    """The query's tokens, whitespace and comments left out."""
    out: list[Token] = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None:
            raise PromQLError(f"unexpected character {query[pos]!r} at offset {pos}")
        kind = m.lastgroup or "op"
        if kind != "ws":
            out.append(Token(kind, m.group(), pos))
        pos = m.end()
    return out


def quote(value: str) -> str:
    """``value`` as a PromQL double-quoted string."""
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _closing(tokens: list[Token], i: int) -> int:
    """The index of the bracket closing the one at ``tokens[i]``."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = [pairs[tokens[i].text]]
    for j in range(i + 1, len(tokens)):
        t = tokens[j]
        if t.kind != "op":
            continue
        if t.text in pairs:
            stack.append(pairs[t.text])
        elif t.text in (")", "]", "}"):
            if t.text != stack.pop():
                raise PromQLError(f"unbalanced {t.text!r} at offset {t.start}")
            if not stack:
                return j
    raise PromQLError(f"unclosed {tokens[i].text!r} at offset {tokens[i].start}")


def _check_balanced(tokens: list[Token]) -> None:
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack: list[Token] = []
    for t in tokens:
        if t.kind != "op":
            continue
        if t.text in pairs:
            stack.append(t)
        elif t.text in (")", "]", "}") and (not stack or pairs[stack.pop().text] != t.text):
            raise PromQLError(f"unbalanced {t.text!r} at offset {t.start}")
    if stack:
        raise PromQLError(f"unclosed {stack[-1].text!r} at offset {stack[-1].start}")


def _is(tokens: list[Token], i: int, text: str) -> bool:
    return i < len(tokens) and tokens[i].kind == "op" and tokens[i].text == text


def selector_labels(tokens: list[Token], open_at: int, close_at: int) -> list[str]:
    """The label names matched inside the braces ``tokens[open_at]`` .. ``tokens[close_at]`` (a
    bare string, Prometheus 3's quoted metric name, is not a label)."""
    names = []
    for j in range(open_at + 1, close_at):
        t = tokens[j]
        nxt = tokens[j + 1] if j + 1 < close_at else None
        if t.kind in ("ident", "string") and nxt is not None and nxt.kind == "op" and nxt.text in MATCH_OPS:
            prev = tokens[j - 1]
            if prev.kind == "op" and prev.text in ("{", ","):
                names.append(t.text if t.kind == "ident" else t.text[1:-1])
    return names


def with_matcher(query: str, label: str, value: str) -> str:
    """``query`` with ``label="value"`` added to every vector selector.

    Raises ``MatcherConflict`` when a selector already matches on ``label`` (the query would
    otherwise read what it names, or nothing), ``PromQLError`` on unbalanced brackets, and
    ``ValueError`` when ``label`` is not a label name.
    """
    if not LABEL_NAME.match(label):
        raise ValueError(f"{label!r} is not a Prometheus label name")
    matcher = f"{label}={quote(value)}"
    tokens = tokenize(query)
    _check_balanced(tokens)
    inserts: list[tuple[int, str]] = []  # (offset in query, text to insert there)
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.kind == "op" and t.text == "[":  # a range or a subquery's range and step: durations only
            i = _closing(tokens, i) + 1
            continue
        if t.kind == "ident":
            word = t.text.lower()
            if word in LABEL_LISTS and _is(tokens, i + 1, "("):
                i = _closing(tokens, i + 1) + 1  # label names, not selectors
                continue
            if word in KEYWORDS or _is(tokens, i + 1, "("):  # an operator, a modifier or a function
                i += 1
                continue
            if _is(tokens, i + 1, "{"):
                i += 1  # the braces that follow are this metric's: handled below
                continue
            inserts.append((t.end, "{" + matcher + "}"))
            i += 1
            continue
        if t.kind == "op" and t.text == "{":
            close = _closing(tokens, i)
            if label in selector_labels(tokens, i, close):
                raise MatcherConflict(f"the query already has a matcher on {label!r} at offset {t.start}")
            inner = tokens[i + 1 : close]
            if not inner or _is(tokens, close - 1, ","):
                inserts.append((tokens[close].start, matcher))
            else:
                inserts.append((tokens[close - 1].end, ", " + matcher))
            i = close + 1
            continue
        i += 1
    out = query
    for offset, text in sorted(inserts, reverse=True):
        out = out[:offset] + text + out[offset:]
    return out
