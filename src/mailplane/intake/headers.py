"""Reading and removing header fields of a raw message without re-serializing it: the
bytes Postfix handed over are stored as they are (re-encoding could change a signed or
8-bit message), minus the fields the intake removes."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesHeaderParser

_END_OF_HEADER = re.compile(rb"\r?\n\r?\n")


def header_section(raw: bytes) -> bytes:
    match = _END_OF_HEADER.search(raw)
    return raw if match is None else raw[: match.end()]


def field_values(raw: bytes, name: str) -> list[str]:
    """Every value of a field, unfolded and with RFC 2047 words decoded; [] if absent."""
    parsed = BytesHeaderParser(policy=policy.SMTPUTF8).parsebytes(header_section(raw))
    values: list[str] = []
    for value in parsed.get_all(name, []):
        try:
            values.append(" ".join(str(value).split()))
        except (ValueError, TypeError, IndexError):  # a header the parser cannot render
            continue
    return values


def first_value(raw: bytes, name: str) -> str:
    values = field_values(raw, name)
    return values[0] if values else ""


def remove_fields(raw: bytes, name: str) -> bytes:
    """The message without any field of this name (with its continuation lines)."""
    section = header_section(raw)
    prefix = name.lower().encode() + b":"
    kept: list[bytes] = []
    removing = False
    for line in section.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and line.strip():
            if not removing:
                kept.append(line)
            continue
        removing = line.lower().replace(b" ", b"").replace(b"\t", b"").startswith(prefix)
        if not removing:
            kept.append(line)
    return b"".join(kept) + raw[len(section) :]
