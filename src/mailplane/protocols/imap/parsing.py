"""IMAP response syntax (RFC 3501 section 9) into Python values.

A response arrives as one bytes object with its literals inline (``{n}\\r\\n`` then n
bytes), so there is no line limit: a SEARCH of 50,000 UIDs or a 20 MB literal parse the
same way as a short line. Values: ``list`` for parenthesised lists, ``bytes`` for
literals, ``str`` for atoms and quoted strings, ``None`` for NIL. Numbers stay atoms (a
mailbox may be named "2024"); the caller converts what it knows to be numeric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class ParseError(ValueError):
    pass


# Atom characters, plus what FETCH attribute names carry: "BODY[HEADER.FIELDS (A B)]<0>"
# is read as one atom by _atom below (brackets may hold spaces and parentheses).
_ATOM_END = re.compile(rb"[ ()\[\r\n\"{]")
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n")


def _text(data: bytes) -> str:
    # Dovecot sends raw UTF-8 in quoted strings (8-bit headers); nothing else is legal.
    return data.decode("utf-8", "replace")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def skip_spaces(self) -> None:
        while self.pos < len(self.data) and self.data[self.pos] == 0x20:
            self.pos += 1

    def value(self) -> Any:
        self.skip_spaces()
        if self.at_end():
            raise ParseError("unexpected end of response")
        char = self.data[self.pos]
        if char == 0x28:  # (
            self.pos += 1
            items: list[Any] = []
            while True:
                self.skip_spaces()
                if self.at_end():
                    raise ParseError("unterminated list")
                if self.data[self.pos] == 0x29:  # )
                    self.pos += 1
                    return items
                items.append(self.value())
        if char == 0x22:  # "
            return self._quoted()
        if char == 0x7B:  # {
            return self._literal()
        return self._atom()

    def _quoted(self) -> str:
        self.pos += 1
        data = self.data
        end = data.find(b'"', self.pos)
        if end >= 0 and data.find(b"\\", self.pos, end) < 0:  # the common case: no escapes
            start, self.pos = self.pos, end + 1
            return _text(data[start:end])
        out = bytearray()
        while self.pos < len(data):
            char = data[self.pos]
            if char == 0x5C:  # backslash
                self.pos += 1
                if self.pos < len(data):
                    out.append(data[self.pos])
            elif char == 0x22:
                self.pos += 1
                return _text(bytes(out))
            else:
                out.append(char)
            self.pos += 1
        raise ParseError("unterminated quoted string")

    def _literal(self) -> bytes:
        match = _LITERAL.match(self.data, self.pos)
        if match is None:
            raise ParseError("malformed literal")
        size = int(match.group(1))
        start = match.end()
        if start + size > len(self.data):
            raise ParseError("truncated literal")
        self.pos = start + size
        return self.data[start : start + size]

    def _atom(self) -> str | None:
        start = self.pos
        data = self.data
        while self.pos < len(data):
            match = _ATOM_END.search(data, self.pos)
            if match is None:
                self.pos = len(data)
                break
            self.pos = match.start()
            if data[self.pos] != 0x5B:  # [
                break
            # A section: up to the matching "]", then an optional "<origin>" partial.
            depth = 0
            while self.pos < len(data):
                if data[self.pos] == 0x5B:
                    depth += 1
                elif data[self.pos] == 0x5D:
                    depth -= 1
                    if depth == 0:
                        self.pos += 1
                        break
                self.pos += 1
            if self.pos < len(data) and data[self.pos] == 0x3C:  # <
                end = data.find(b">", self.pos)
                self.pos = len(data) if end < 0 else end + 1
        if self.pos == start:
            raise ParseError(f"unexpected character {data[start : start + 1]!r}")
        atom = _text(data[start : self.pos])
        return None if atom.upper() == "NIL" else atom

    def rest(self) -> bytes:
        self.skip_spaces()
        rest = self.data[self.pos :]
        self.pos = len(self.data)
        return rest


# One token at a time with one regular expression (the hot path of every FETCH answer):
# "(", ")", a quoted string without escapes, a quoted string with escapes (read by
# _Reader._quoted), a literal, an atom with an optional section and partial.
_TOKEN = re.compile(
    rb' *(?:(\()|(\))|"([^"\\]*)"|(")|\{(\d+)\+?\}\r\n'
    rb'|([^ ()"{\[\]\r\n]+(?:\[[^\]]*\](?:<[^>]*>)?)?))'
)


def _values(data: bytes, pos: int) -> list[Any]:
    top: list[Any] = []
    stack = [top]
    match = _TOKEN.match
    end = len(data)
    while True:
        token = match(data, pos)
        if token is None:
            if data[pos:].strip(b" "):
                raise ParseError(f"unexpected {data[pos : pos + 20]!r}")
            break
        pos = token.end()
        kind = token.lastindex
        if kind == 1:
            child: list[Any] = []
            stack[-1].append(child)
            stack.append(child)
        elif kind == 2:
            if len(stack) == 1:
                raise ParseError("unbalanced parenthesis")
            stack.pop()
        elif kind == 3:
            stack[-1].append(_text(token.group(3)))
        elif kind == 4:
            reader = _Reader(data)
            reader.pos = token.start(4)
            stack[-1].append(reader.value())
            pos = reader.pos
        elif kind == 5:
            size = int(token.group(5))
            if pos + size > end:
                raise ParseError("truncated literal")
            stack[-1].append(data[pos : pos + size])
            pos += size
        else:
            atom = token.group(6)
            stack[-1].append(None if atom.upper() == b"NIL" else _text(atom))
    if len(stack) != 1:
        raise ParseError("unterminated list")
    return top


@dataclass
class Response:
    """One server response: ``tag`` is "*" (untagged), "+" (continuation) or a command's."""

    tag: str
    name: str  # upper case: OK, NO, BAD, BYE, EXISTS, FETCH, LIST, SEARCH, ...
    number: int | None = None  # "* 12 EXISTS"
    data: list[Any] = field(default_factory=list)
    code: str | None = None  # "[UIDVALIDITY 12]" of OK/NO/BAD/BYE/PREAUTH, without brackets
    text: str = ""

    @property
    def code_name(self) -> str | None:
        return self.code.split(" ", 1)[0].upper() if self.code else None


STATUS_NAMES = frozenset({"OK", "NO", "BAD", "BYE", "PREAUTH"})


def _status_text(reader: _Reader, response: Response) -> Response:
    rest = reader.rest()
    if rest.startswith(b"["):
        end = rest.find(b"]")
        if end > 0:
            response.code = _text(rest[1:end])
            rest = rest[end + 1 :].lstrip(b" ")
    response.text = _text(rest)
    return response


def parse_response(data: bytes) -> Response:
    """``data`` is a whole response without its final CRLF, literals inline."""
    if data.startswith(b"+"):
        return Response(tag="+", name="+", text=_text(data[1:].lstrip(b" ")))
    space = data.find(b" ")
    if space <= 0:
        raise ParseError(f"malformed response {data[:80]!r}")
    tag = _text(data[:space])
    reader = _Reader(data)
    reader.pos = space + 1
    first = reader._atom()
    if first is None:
        raise ParseError("missing response name")
    if first.isdigit():
        number = int(first)
        reader.skip_spaces()
        name = reader._atom()
        if name is None:
            raise ParseError("missing response name")
        response = Response(tag=tag, name=name.upper(), number=number)
    else:
        response = Response(tag=tag, name=first.upper())
    if response.name in STATUS_NAMES:
        return _status_text(reader, response)
    response.data = _values(data, reader.pos)
    return response
