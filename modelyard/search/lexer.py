"""Tokens of the filter grammar, each with its 0-based character position in the source.

- identifiers: ``prefix.key`` (``metrics.rmse``, ``tags.mlflow.runName``) where an unquoted key
  is a run of word characters, ``.``, ``-``, ``/`` and ``:``; a key with other characters is
  quoted with backticks or double quotes (``metrics.`f1 score```, ``tags."my key"``). A bare
  word (``status``) or a bare backtick-quoted name (```Run name```) is an identifier without
  prefix. Inside quotes a doubled quote character stands for itself.
- keywords, case-insensitive: ``AND OR NOT IN LIKE ILIKE IS NULL ASC DESC``.
- strings: ``'single'`` or ``"double"`` quoted (MLflow accepts both for values); ``''`` inside
  single quotes and ``""`` inside double quotes are escaped quotes.
- numbers: ``1``, ``-2``, ``0.5``, ``.5``, ``1e-3``. Integers beyond 64 bits become floats;
  a number that overflows to infinity is an error.
- comparators ``= != <> < <= > >=`` (``<>`` is returned as ``!=``), ``(``, ``)``, ``,``.

Every error is an ``InvalidParameterValue`` naming the offending text and its position.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from modelyard.exceptions import InvalidParameterValue

KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "ASC", "DESC"})

_WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W\d]\w*")
UNQUOTED_KEY = re.compile(r"[\w.\-/:]+")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_COMPARATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_PUNCTUATION = {"(": "(", ")": ")", ",": ","}
_INT64 = 2**63
_MAX_SHOWN = 300


@dataclass(frozen=True, slots=True)
class Token:
    """One token. ``kind`` is one of ident, string, number, op, keyword, ``(``, ``)``, ``,``, end.

    ``value`` is the decoded content: the key of an identifier, the text of a string, the
    ``int``/``float`` of a number, the upper-cased keyword, the canonical comparator.
    """

    kind: str
    text: str
    pos: int
    value: str | int | float | None = None
    prefix: str | None = None


def invalid(source: str, label: str, message: str) -> InvalidParameterValue:
    """The one error shape: ``Invalid <label> '<source>': <message>``."""
    shown = source if len(source) <= _MAX_SHOWN else source[:_MAX_SHOWN] + "..."
    return InvalidParameterValue(f"Invalid {label} '{shown}': {message}")


def describe(token: Token) -> str:
    """How an error message names a token."""
    if token.kind == "end":
        return "end of input"
    return token.text if token.kind == "string" else f"'{token.text}'"


def tokenize(source: str, label: str = "filter") -> list[Token]:
    """Split ``source`` into tokens, ending with an ``end`` token at ``len(source)``."""
    return _Lexer(source, label).run()


class _Lexer:
    def __init__(self, source: str, label: str) -> None:
        self.source = source
        self.label = label

    def error(self, message: str) -> InvalidParameterValue:
        return invalid(self.source, self.label, message)

    def run(self) -> list[Token]:
        src = self.source
        tokens: list[Token] = []
        pos = 0
        while True:
            ws = _WHITESPACE.match(src, pos)
            if ws:
                pos = ws.end()
            if pos >= len(src):
                tokens.append(Token("end", "", len(src)))
                return tokens
            token = self.next_token(pos)
            tokens.append(token)
            pos = token.pos + len(token.text)

    def next_token(self, pos: int) -> Token:
        src = self.source
        char = src[pos]
        if char in _PUNCTUATION:
            return Token(_PUNCTUATION[char], char, pos)
        if char in "'\"":
            value, end = self.quoted(pos, "string")
            return Token("string", src[pos:end], pos, value)
        if char == "`":
            value, end = self.quoted(pos, "quoted name")
            return Token("ident", src[pos:end], pos, value)
        for comparator in _COMPARATORS:
            if src.startswith(comparator, pos):
                return Token("op", comparator, pos, "!=" if comparator == "<>" else comparator)
        number = _NUMBER.match(src, pos)
        if number:
            return Token("number", number.group(), pos, self.number(number.group(), pos))
        word = _WORD.match(src, pos)
        if word is None:
            raise self.error(f"unexpected '{char}' at position {pos}")
        end = word.end()
        if end < len(src) and src[end] == ".":
            return self.dotted(pos, word.group(), end + 1)
        text = word.group()
        if text.isascii() and text.upper() in KEYWORDS:
            return Token("keyword", text, pos, text.upper())
        return Token("ident", text, pos, text)

    def dotted(self, pos: int, prefix: str, key_start: int) -> Token:
        src = self.source
        if key_start < len(src) and src[key_start] in '`"':
            key, end = self.quoted(key_start, "quoted name")
        else:
            match = UNQUOTED_KEY.match(src, key_start)
            if match is None:
                shown = "end of input" if key_start >= len(src) else f"'{src[key_start]}'"
                raise self.error(f"expected a key after '{prefix}.' at position {key_start}, found {shown}")
            key, end = match.group(), match.end()
        return Token("ident", src[pos:end], pos, key, prefix)

    def quoted(self, start: int, what: str) -> tuple[str, int]:
        """Read a quoted run starting at ``start``; a doubled quote is an escaped quote."""
        src = self.source
        quote = src[start]
        parts: list[str] = []
        pos = start + 1
        while True:
            close = src.find(quote, pos)
            if close < 0:
                raise self.error(f"unterminated {what} starting at position {start}")
            parts.append(src[pos:close])
            if close + 1 < len(src) and src[close + 1] == quote:
                parts.append(quote)
                pos = close + 2
                continue
            return "".join(parts), close + 1

    def number(self, text: str, pos: int) -> int | float:
        is_integer = not any(c in text for c in ".eE")
        if is_integer and len(text) <= 20:
            value = int(text)
            if -_INT64 <= value < _INT64:
                return value
        number = float(text)
        if not math.isfinite(number):
            raise self.error(f"number '{text}' at position {pos} is out of range")
        return number
