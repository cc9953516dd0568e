"""What goes into IMAP commands (quoted strings, literals, mailbox names, sequence sets)
and what comes out of them (selected mailbox, folders, numbers, UID sets)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mailplane.protocols.imap.errors import ImapError
from mailplane.protocols.imap.mutf7 import encode_mailbox

_SEQUENCE_SET = re.compile(r"^(\d+|\*)(:(\d+|\*))?(,(\d+|\*)(:(\d+|\*))?)*$")


@dataclass(frozen=True)
class Literal:
    """A command argument sent as a literal (binary safe: messages, odd names)."""

    data: bytes


@dataclass(frozen=True)
class Selected:
    name: str
    exists: int
    uidvalidity: int
    uidnext: int
    readonly: bool


@dataclass(frozen=True)
class Folder:
    name: str  # decoded (Unicode)
    delimiter: str | None
    flags: frozenset[str]
    special_use: str | None
    messages: int | None
    unseen: int | None

    @property
    def selectable(self) -> bool:
        return not {"\\noselect", "\\nonexistent"} & {f.lower() for f in self.flags}


def quote(text: str) -> str | Literal:
    """A string argument: quoted when it can be, else a literal (CR, LF, NUL or 8-bit)."""
    if any(c in text for c in "\r\n\0") or not text.isascii():
        return Literal(text.encode())
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox_argument(name: str) -> str | Literal:
    return quote(encode_mailbox(name))


def check_sequence_set(ids: str) -> str:
    if not _SEQUENCE_SET.match(ids):
        raise ValueError(f"not a sequence set: {ids!r}")
    return ids


def number(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ImapError(f"expected a number, got {value!r}")


def status_pairs(values: Any) -> dict[str, int]:
    pairs: dict[str, int] = {}
    if isinstance(values, list):
        for index in range(0, len(values) - 1, 2):
            value = values[index + 1]
            if isinstance(value, str) and value.isdigit():
                pairs[str(values[index]).upper()] = int(value)
    return pairs


def thread_ints(node: Any) -> Any:
    if isinstance(node, list):
        return [thread_ints(child) for child in node]
    return number(node)


def expand_uids(ids: str) -> list[int]:
    out: list[int] = []
    for part in ids.split(","):
        start, _, end = part.partition(":")
        if end:
            low, high = sorted((int(start), int(end)))
            out.extend(range(low, high + 1))
        else:
            out.append(int(start))
    return out
