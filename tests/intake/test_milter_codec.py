"""The milter wire format (protocols/milter.py), byte for byte as Postfix's milter8.c
writes and reads it."""

from __future__ import annotations

import asyncio
import struct

import pytest

from mailplane.protocols import milter


def _frame(command: bytes, data: bytes = b"") -> bytes:
    return struct.pack("!I", len(data) + 1) + command + data


def _read_all(stream: bytes) -> list[milter.Packet | None]:
    async def run() -> list[milter.Packet | None]:
        reader = asyncio.StreamReader()
        reader.feed_data(stream)
        reader.feed_eof()
        packets: list[milter.Packet | None] = []
        while True:
            packet = await milter.read_packet(reader)
            packets.append(packet)
            if packet is None:
                return packets

    return asyncio.run(run())


def test_packets_are_read_one_after_another_until_the_peer_closes() -> None:
    stream = _frame(b"L", b"From\0me@example.test\0") + _frame(b"N") + _frame(b"E")
    packets = _read_all(stream)
    assert packets == [
        milter.Packet(b"L", b"From\0me@example.test\0"),
        milter.Packet(b"N", b""),
        milter.Packet(b"E", b""),
        None,
    ]


@pytest.mark.parametrize(
    "stream",
    [
        b"\0\0",  # closed inside the length
        struct.pack("!I", 10) + b"L",  # closed inside the packet
        struct.pack("!I", 0),  # a packet without a command
        struct.pack("!I", milter.MAX_PACKET + 1),  # not a milter peer
    ],
)
def test_broken_framing_is_a_protocol_error(stream: bytes) -> None:
    with pytest.raises(milter.MilterProtocolError):
        _read_all(stream)


def test_negotiation_takes_only_what_the_mta_offers() -> None:
    offer = milter.parse_negotiation(struct.pack("!III", 6, 0x1FF, 0x1FFFFF))
    assert offer == milter.Negotiation(6, 0x1FF, 0x1FFFFF)
    reply = milter.negotiation_reply(offer, milter.ACTION_ADD_HEADERS, milter.SKIP_BODY)
    assert reply == _frame(b"O", struct.pack("!III", 6, 0x01, 0x10))
    # A step the MTA cannot skip is not asked for.
    narrow = milter.Negotiation(6, 0x1FF, 0x0F)
    assert milter.negotiation_reply(narrow, 0x01, 0x10 | 0x01)[-4:] == struct.pack("!I", 0x01)
    with pytest.raises(milter.MilterProtocolError):
        milter.negotiation_reply(milter.Negotiation(6, 0x00, 0), milter.ACTION_ADD_HEADERS, 0)
    with pytest.raises(milter.MilterProtocolError):
        milter.parse_negotiation(b"\0\0\0\6")


def test_macros_headers_and_strings() -> None:
    stage, values = milter.parse_macros(b"M{auth_authen}\0me@example.test\0i\0" + b"4Xy\0")
    assert stage == b"M"
    assert values == {"auth_authen": "me@example.test", "i": "4Xy"}
    assert milter.parse_header("Subject\0Grüße\0".encode()) == ("Subject", "Grüße")
    with pytest.raises(milter.MilterProtocolError):
        milter.parse_macros(b"M{auth_authen}\0")
    with pytest.raises(milter.MilterProtocolError):
        milter.parse_header(b"Subject\0no terminator")


def test_replies() -> None:
    assert milter.encode(milter.CONTINUE) == b"\0\0\0\1c"
    assert milter.reply_code("550 5.7.1 No") == _frame(b"y", b"550 5.7.1 No\0")
    assert milter.add_header("X-A", "b") == _frame(b"h", b"X-A\0b\0")
    assert milter.delete_header("X-A", 1) == _frame(b"m", b"\0\0\0\1X-A\0\0")
    for bad in ("250 ok", "550 two\r\nlines", "5"):
        with pytest.raises(ValueError, match="reply"):
            milter.reply_code(bad)
    with pytest.raises(ValueError, match="CR or LF"):
        milter.add_header("X-A", "b\r\nBcc: victim@example.test")
