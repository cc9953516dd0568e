"""The milter protocol (version 6) as Postfix speaks it: framing, commands and replies.

A packet is a 4-byte big-endian length, then that many bytes: one command byte and its
data. Strings inside are NUL-terminated. The MTA sends commands (SMFIC_*); the filter
answers every command except MACRO, ABORT and QUIT with one reply (SMFIR_*), and at end
of message with any number of modifications followed by one final reply.

References: Postfix MILTER_README and src/milter/milter8.c; Sendmail's libmilter
(mfdef.h). This module is pure encoding and decoding; what to decide lives with its user.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

# Commands (MTA -> filter).
OPTNEG = b"O"
MACRO = b"D"
CONNECT = b"C"
HELO = b"H"
MAIL = b"M"
RCPT = b"R"
DATA = b"T"
HEADER = b"L"
EOH = b"N"
BODY = b"B"
BODYEOB = b"E"
ABORT = b"A"
QUIT = b"Q"
QUIT_NEW_CONNECTION = b"K"
UNKNOWN = b"U"

# Commands that get no reply.
NO_REPLY = frozenset({MACRO, ABORT, QUIT, QUIT_NEW_CONNECTION})

# Replies (filter -> MTA).
CONTINUE = b"c"
ACCEPT = b"a"
REJECT = b"r"
TEMPFAIL = b"t"
REPLYCODE = b"y"
ADDHEADER = b"h"
CHGHEADER = b"m"

# Actions the filter may take (negotiated): add headers, change or delete headers.
ACTION_ADD_HEADERS = 0x01
ACTION_CHANGE_HEADERS = 0x10

# Protocol steps the filter may skip (negotiated), from libmilter's SMFIP_* bits.
SKIP_CONNECT = 0x01
SKIP_HELO = 0x02
SKIP_RCPT = 0x08
SKIP_BODY = 0x10
SKIP_UNKNOWN = 0x100
SKIP_DATA = 0x200

VERSION = 6
# Postfix sends body chunks of at most 64 KB; anything far larger is not a milter peer.
MAX_PACKET = 1 << 20


class MilterProtocolError(Exception):
    """The peer broke the framing or sent a malformed packet: drop the connection."""


@dataclass(frozen=True)
class Packet:
    command: bytes
    data: bytes


@dataclass(frozen=True)
class Negotiation:
    version: int
    actions: int
    protocol: int


def encode(command: bytes, data: bytes = b"") -> bytes:
    return struct.pack("!I", len(data) + 1) + command + data


def decode(frame: bytes) -> Packet:
    """One packet from its bytes after the length prefix."""
    if not frame:
        raise MilterProtocolError("empty milter packet")
    return Packet(frame[:1], frame[1:])


async def read_packet(reader: asyncio.StreamReader) -> Packet | None:
    """The next packet, or None when the peer closed the connection between packets."""
    try:
        prefix = await reader.readexactly(4)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise MilterProtocolError("connection closed inside a length prefix") from exc
        return None
    (length,) = struct.unpack("!I", prefix)
    if not 0 < length <= MAX_PACKET:
        raise MilterProtocolError(f"milter packet length {length} out of range")
    try:
        return decode(await reader.readexactly(length))
    except asyncio.IncompleteReadError as exc:
        raise MilterProtocolError("connection closed inside a packet") from exc


def strings(data: bytes) -> list[str]:
    """NUL-terminated strings; header values may carry UTF-8 (SMTPUTF8, RFC 6532)."""
    if data and not data.endswith(b"\0"):
        raise MilterProtocolError("milter string without its NUL terminator")
    return [part.decode("utf-8", errors="replace") for part in data.split(b"\0")[:-1]]


def _c_string(value: str) -> bytes:
    encoded = value.encode("utf-8")
    if b"\0" in encoded:
        raise ValueError("a milter string cannot contain NUL")
    return encoded + b"\0"


def parse_negotiation(data: bytes) -> Negotiation:
    if len(data) < 12:
        raise MilterProtocolError("short OPTNEG packet")
    version, actions, protocol = struct.unpack("!III", data[:12])
    return Negotiation(version, actions, protocol)


def negotiation_reply(offer: Negotiation, actions: int, skip: int) -> bytes:
    """Answer OPTNEG: our version, the actions we need, the steps we skip; each limited
    to what the MTA offered (asking for more makes Postfix drop the filter)."""
    if offer.version < 2:
        raise MilterProtocolError(f"milter protocol version {offer.version} is too old")
    if actions & ~offer.actions:
        raise MilterProtocolError("the MTA does not allow the header changes this filter needs")
    payload = struct.pack("!III", min(offer.version, VERSION), actions, skip & offer.protocol)
    return encode(OPTNEG, payload)


def parse_macros(data: bytes) -> tuple[bytes, dict[str, str]]:
    """SMFIC_MACRO: the command the macros belong to, then name/value pairs. Names come
    as Postfix writes them: ``i``, ``{auth_authen}``; braces are removed here."""
    if not data:
        raise MilterProtocolError("empty MACRO packet")
    items = strings(data[1:])
    if len(items) % 2:
        raise MilterProtocolError("MACRO packet with a name but no value")
    pairs = {items[n].strip("{}"): items[n + 1] for n in range(0, len(items), 2)}
    return data[:1], pairs


def parse_header(data: bytes) -> tuple[str, str]:
    items = strings(data)
    if len(items) != 2:
        raise MilterProtocolError("HEADER packet is not a name and a value")
    return items[0], items[1]


def reply_code(text: str) -> bytes:
    """SMFIR_REPLYCODE: a complete SMTP reply such as ``550 5.7.1 Not yours``."""
    if any(c in text for c in "\r\n\0") or len(text) < 3 or text[0] not in "45":
        raise ValueError(f"not a single-line 4xx/5xx reply: {text!r}")
    return encode(REPLYCODE, _c_string(text))


def add_header(name: str, value: str) -> bytes:
    if any(c in name + value for c in "\r\n"):
        raise ValueError("a header added by the milter cannot contain CR or LF")
    return encode(ADDHEADER, _c_string(name) + _c_string(value))


def delete_header(name: str, occurrence: int) -> bytes:
    """SMFIR_CHGHEADER with an empty value deletes the nth (from 1) header of that name."""
    return encode(CHGHEADER, struct.pack("!I", occurrence) + _c_string(name) + b"\0")
