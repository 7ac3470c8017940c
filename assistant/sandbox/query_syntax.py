"""The syntax of Gmail search (the ``q`` parameter): tokens and the query AST.

``tokenize`` splits the text into tokens (words, quoted phrases,
``operator:value`` pairs, ``OR``, ``|``, ``-``, parentheses and braces), and
``parse`` turns them into an AST of ``And``, ``Or``, ``Not`` and ``Term``. This
module covers the syntax and the operator names; ``query.py`` gives each term
its meaning over the sandbox schema.

Implicit AND joins terms, and OR binds tighter than AND, as in Gmail, so
``a b OR c`` means ``a AND (b OR c)`` ("Search operators you can use with
Gmail", https://support.google.com/mail/answer/7190).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from assistant.sandbox.errors import InvalidArgument

# Operator names this module understands. Gmail's other operators (list:,
# has:drive, AROUND and so on) are rejected by name rather than guessed at.
OPERATORS = frozenset({
    "from", "to", "cc", "bcc", "deliveredto", "subject", "filename",
    "label", "in", "is", "has", "category",
    "after", "before", "older", "newer", "older_than", "newer_than",
    "larger", "smaller", "size", "rfc822msgid",
})

_OPERATOR_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):")
_SPECIAL = set('(){}"|')


# -- tokens -----------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    """One lexical unit; ``kind`` is word, phrase, operator, scope or a symbol.

    Symbols: ``(`` ``)`` ``{`` ``}`` ``OR`` ``AND`` ``-``. A ``scope`` token is an
    operator directly followed by ``(`` or ``{``, as in ``subject:(a b)``.
    """

    kind: str
    text: str = ""
    operator: str = ""


def tokenize(q: str) -> list[Token]:
    """Split a Gmail query into tokens; raise on an unterminated quote."""
    tokens: list[Token] = []
    i = 0
    while i < len(q):
        char = q[i]
        if char.isspace() or not char.isprintable():
            i += 1
        elif char in "(){}":
            tokens.append(Token(char))
            i += 1
        elif char == "|":
            tokens.append(Token("OR"))
            i += 1
        elif char == '"':
            text, i = _read_quoted(q, i)
            tokens.append(Token("phrase", text))
        elif char == "-" and i + 1 < len(q) and _starts_term(q[i + 1]):
            tokens.append(Token("-"))
            i += 1
        else:
            token, i = _read_term(q, i)
            tokens.append(token)
    return tokens


def _starts_term(char: str) -> bool:
    return not char.isspace() and char not in ")}|"


def _read_quoted(q: str, start: int) -> tuple[str, int]:
    end = q.find('"', start + 1)
    if end < 0:
        raise InvalidArgument(
            f"Invalid query: the quote at position {start} is never closed; "
            'close it with another ".'
        )
    return q[start + 1:end], end + 1


def _read_term(q: str, start: int) -> tuple[Token, int]:
    match = _OPERATOR_RE.match(q, start)
    if match is None:
        end = _word_end(q, start)
        text = q[start:end]
        if text in ("OR", "AND"):
            return Token(text), end
        return Token("word", text), end

    operator = match.group(1).lower()
    if operator not in OPERATORS:
        raise InvalidArgument(
            f"Invalid query: unsupported search operator {match.group(1)}:. "
            'Quote the text ("...") to search for it as words.'
        )
    i = match.end()
    if i < len(q) and q[i] in "({":
        return Token("scope", operator=operator), i
    if i < len(q) and q[i] == '"':
        text, end = _read_quoted(q, i)
        return Token("operator", text, operator), end
    end = _word_end(q, i)
    if end == i:
        raise InvalidArgument(f"Invalid query: {operator}: needs a value, as in {operator}:x.")
    return Token("operator", q[i:end], operator), end


def _word_end(q: str, start: int) -> int:
    end = start
    while end < len(q) and q[end].isprintable() and not q[end].isspace() and q[end] not in _SPECIAL:
        end += 1
    return end


# -- AST ----------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    """A word or phrase, searched in ``operator``'s field (None: everywhere)."""

    operator: str | None
    value: str
    quoted: bool = False


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Union[Term, And, Or, Not]


@dataclass
class _Parser:
    tokens: list[Token]
    position: int = 0
    scope: str | None = None

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.position]
        self.position += 1
        return token


def parse(q: str) -> Node:
    """Parse a Gmail query into an AST; an empty query is ``And(())``, all mail."""
    parser = _Parser(tokenize(q))
    node = _parse_and(parser)
    leftover = parser.peek()
    if leftover is not None:
        raise InvalidArgument(
            f"Invalid query: unexpected {leftover.kind!r} with no matching opening bracket."
        )
    return node


def _parse_and(parser: _Parser) -> Node:
    children: list[Node] = []
    while (token := parser.peek()) is not None and token.kind not in (")", "}"):
        if token.kind == "AND":
            parser.take()
            if not children or _at_group_end(parser):
                raise InvalidArgument("Invalid query: AND needs a term on each side.")
            continue
        children.append(_parse_or(parser))
    return children[0] if len(children) == 1 else And(tuple(children))


def _at_group_end(parser: _Parser) -> bool:
    token = parser.peek()
    return token is None or token.kind in (")", "}", "OR", "AND")


def _parse_or(parser: _Parser) -> Node:
    children = [_parse_unary(parser)]
    while (token := parser.peek()) is not None and token.kind == "OR":
        parser.take()
        if _at_group_end(parser):
            raise InvalidArgument("Invalid query: OR needs a term on each side.")
        children.append(_parse_unary(parser))
    return children[0] if len(children) == 1 else Or(tuple(children))


def _parse_unary(parser: _Parser) -> Node:
    token = parser.take()
    if token.kind == "-":
        if _at_group_end(parser):
            raise InvalidArgument("Invalid query: '-' must be followed by a term to exclude.")
        return Not(_parse_unary(parser))
    if token.kind in ("(", "{"):
        return _parse_group(parser, token.kind)
    if token.kind == "scope":
        return _parse_scope(parser, token.operator)
    if token.kind in ("word", "phrase"):
        return _parse_text(parser, token)
    if token.kind == "operator":
        if parser.scope is not None:
            raise InvalidArgument(
                f"Invalid query: {token.operator}: cannot appear inside {parser.scope}:( )."
            )
        return Term(token.operator, token.text, quoted=False)
    raise InvalidArgument(f"Invalid query: unexpected {token.kind!r}; put a term before it.")


def _parse_text(parser: _Parser, token: Token) -> Term:
    quoted = token.kind == "phrase"
    text = token.text
    if not quoted and text.upper() in ("AROUND", "NOT") and text.isupper():
        raise InvalidArgument(
            f"Invalid query: {text} is not supported; use -term to exclude words, "
            f'or quote "{text}" to search for the word.'
        )
    if not quoted and text.startswith("+"):
        # Gmail's +word requests the exact word, and every word here matches exactly.
        text = text[1:]
    return Term(parser.scope, text, quoted=quoted)


def _parse_group(parser: _Parser, opener: str) -> Node:
    closer = ")" if opener == "(" else "}"
    if opener == "(":
        node = _parse_and(parser)
    else:
        members: list[Node] = []
        while (token := parser.peek()) is not None and token.kind not in (")", "}"):
            if token.kind in ("OR", "AND"):
                parser.take()
                continue
            members.append(_parse_or(parser))
        node = members[0] if len(members) == 1 else Or(tuple(members))
    token = parser.peek()
    if token is None or token.kind != closer:
        raise InvalidArgument(f"Invalid query: {opener!r} is never closed with {closer!r}.")
    parser.take()
    return node


def _parse_scope(parser: _Parser, operator: str) -> Node:
    if parser.scope is not None:
        raise InvalidArgument(
            f"Invalid query: {operator}:( ) cannot appear inside {parser.scope}:( )."
        )
    opener = parser.take().kind
    parser.scope = operator
    try:
        return _parse_group(parser, opener)
    finally:
        parser.scope = None
