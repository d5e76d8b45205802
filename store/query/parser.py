"""The on-call query language: tokens and a recursive-descent parser to a small AST (pure).

    expr       := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | term
    term       := "changed" "within" DURATION
                | FIELD OP VALUE | FIELD ["not"] "in" "(" VALUE ("," VALUE)* ")"
                | FLAG                                   (drift, custom_kernel, ready, cordoned)
    FIELD      := name ("." name)* | "label" "[" STRING "]"
    OP         := "=" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "!~"
    VALUE      := STRING | WORD                          (WORD: letters, digits, . - _ * ? / :)

Examples: ``arch = s390x and kata < 4.0 and health != ok``, ``kernel.guest ~ "6.18.*"``,
``zone in (a, b)``, ``label["topology.kubernetes.io/zone"] = "z1"``, ``changed within 24h``.
Errors point at the offending token with a caret.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from dataclasses import dataclass

from store.errors import BadInputError

MAX_LENGTH = 4096
KEYWORDS = {"and", "or", "not", "in", "within", "changed"}
OPERATORS = ("!=", "<=", ">=", "!~", "=", "<", ">", "~")
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>!=|<=|>=|!~|==|=|<|>|~)
  | (?P<punct>[(),\[\]])
  | (?P<word>[A-Za-z0-9_.\-*?/:+%@]+)
    """,
    re.VERBOSE,
)


class QuerySyntaxError(BadInputError):
    """A query that does not parse; the message shows the query with a caret under the problem."""


@dataclass(frozen=True)
class Token:
    """A lexical token and its column."""

    kind: str  # string, op, punct, word, end
    text: str
    pos: int


@dataclass(frozen=True)
class Compare:
    """``field op value``."""

    field: str
    op: str
    value: str
    pos: int
    op_pos: int = dataclasses.field(default=0, compare=False)
    value_pos: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True)
class InList:
    """``field [not] in (values)``."""

    field: str
    values: tuple[str, ...]
    negated: bool
    pos: int
    value_pos: tuple[int, ...] = dataclasses.field(default=(), compare=False)


@dataclass(frozen=True)
class Flag:
    """A bare predicate such as ``drift``."""

    name: str
    pos: int


@dataclass(frozen=True)
class ChangedWithin:
    """``changed within 24h``."""

    duration: str
    pos: int


@dataclass(frozen=True)
class Not:
    """``not expr``."""

    expr: Node


@dataclass(frozen=True)
class BoolOp:
    """``a and b`` / ``a or b``."""

    op: str
    items: tuple[Node, ...]


Node = Compare | InList | Flag | ChangedWithin | Not | BoolOp


def draw_error(text: str, pos: int, message: str, hint: str) -> QuerySyntaxError:
    """The error for ``message`` at column ``pos``: the query, and a caret under the problem."""
    shown = text.replace("\n", " ").replace("\t", " ")
    start = max(0, pos - 60)
    snippet = shown[start : start + 100]
    return QuerySyntaxError(f"{message}\n    {snippet}\n    {' ' * (pos - start)}^", where="query", hint=hint)


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; unknown characters are an error with a caret."""
    if len(text) > MAX_LENGTH:
        raise QuerySyntaxError(
            f"the query is {len(text)} characters long; the limit is {MAX_LENGTH}",
            where="query",
            hint="split it, or select with -l",
        )
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise draw_error(
                text,
                pos,
                f"unexpected character {text[pos]!r}",
                'quote values with odd characters: kernel.guest ~ "6.18.*"',
            )
        kind = m.lastgroup or ""
        if kind != "ws":
            value = m.group()
            if kind == "string":
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            elif kind == "op" and value == "==":
                value = "="
            tokens.append(Token(kind, value, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in words

    def expect(self, kind: str, text: str, what: str) -> Token:
        if self.tok.kind != kind or self.tok.text != text:
            raise self.error(f"expected {what}")
        return self.take()

    def error(self, message: str, hint: str = "see docs/queries.md for the language") -> QuerySyntaxError:
        found = "the end of the query" if self.tok.kind == "end" else repr(self.tok.text)
        return draw_error(self.text, self.tok.pos, f"{message}, found {found}", hint)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.error("expected a condition", "try: arch = s390x and health != ok")
        node = self.or_()
        if self.tok.kind != "end":
            raise self.error("expected 'and', 'or' or the end", "join conditions with 'and' or 'or'")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.is_word("or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_(self) -> Node:
        items = [self.unary()]
        while self.is_word("and"):
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def unary(self) -> Node:
        if self.is_word("not"):
            self.take()
            return Not(self.unary())
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.take()
            node = self.or_()
            self.expect("punct", ")", "')'")
            return node
        return self.term()

    def term(self) -> Node:
        start = self.tok
        if self.is_word("changed"):
            self.take()
            if not self.is_word("within"):
                raise self.error("expected 'within' after 'changed'", "try: changed within 24h")
            self.take()
            if self.tok.kind not in ("word", "string"):
                raise self.error("expected a duration", "try: changed within 24h")
            return ChangedWithin(self.take().text, start.pos)
        field = self.field()
        if self.tok.kind == "op":
            op_tok = self.take()
            value_pos = self.tok.pos
            return Compare(field, op_tok.text, self.value(), start.pos, op_tok.pos, value_pos)
        negated = False
        if self.is_word("not"):
            self.take()
            negated = True
            if not self.is_word("in"):
                raise self.error("expected 'in' after 'not'")
        if self.is_word("in"):
            self.take()
            self.expect("punct", "(", "'(' after 'in'")
            positions = [self.tok.pos]
            values = [self.value()]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.take()
                positions.append(self.tok.pos)
                values.append(self.value())
            self.expect("punct", ")", "')' or ','")
            return InList(field, tuple(values), negated, start.pos, tuple(positions))
        if field in FLAGS and not negated:
            return Flag(field, start.pos)
        raise self.error(f"expected an operator after {field!r}", "operators: = != < <= > >= ~ !~ in")

    def field(self) -> str:
        tok = self.tok
        if tok.kind != "word" or tok.text.lower() in KEYWORDS:
            raise self.error("expected a field", f"fields: {', '.join(sorted(FIELD_NAMES))}")
        self.take()
        name = tok.text.lower()
        if name == "label":
            self.expect("punct", "[", "'[' after label")
            if self.tok.kind not in ("string", "word"):
                raise self.error("expected a label key", 'try: label["topology.kubernetes.io/zone"] = "z1"')
            key = self.take().text
            self.expect("punct", "]", "']'")
            return f"label:{key}"
        if name not in FIELD_NAMES and name not in FLAGS:
            known = FIELD_NAMES | FLAGS
            close = difflib.get_close_matches(name, sorted(known), n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            raise draw_error(
                self.text, tok.pos, f"unknown field {tok.text!r}{guess}", f"fields: {', '.join(sorted(known))}"
            )
        return name

    def value(self) -> str:
        if self.tok.kind in ("string", "word") and not (
            self.tok.kind == "word" and self.tok.text.lower() in {"and", "or"}
        ):
            return self.take().text
        raise self.error("expected a value", 'quote values with spaces: os = "Ubuntu 24.04"')


FIELD_NAMES = frozenset(
    {
        "name", "cluster", "arch", "zone", "region", "kata", "kata.deploy", "kernel.guest", "kernel.host",
        "hypervisor", "hypervisor.version", "machine_type", "os", "runtime", "kubelet", "cpu", "health",
        "check", "handler", "label", "stale_sandboxes",
    }
)  # fmt: skip
FLAGS = frozenset({"drift", "custom_kernel", "ready", "cordoned"})


def parse(text: str) -> Node:
    """Parse a query; raises ``QuerySyntaxError`` (and only that) on bad input."""
    if not isinstance(text, str):
        raise QuerySyntaxError("the query must be text", where="query", hint="try: arch = s390x")
    return _parse(text)


@functools.lru_cache(maxsize=256)  # the AST is immutable; a TUI filter or a script repeats its query
def _parse(text: str) -> Node:
    return _Parser(text).parse()
