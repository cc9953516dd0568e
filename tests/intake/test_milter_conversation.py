"""The submission milter over a real socket, deciding from the real database, driven by
the packets Postfix sends (the order of milter8.c with our skipped steps)."""

from __future__ import annotations

import asyncio
import struct
from functools import partial
from typing import Any

import pytest

from mailplane.db import Database
from mailplane.intake.marker import read_marker
from mailplane.intake.milter import serve_connection
from mailplane.intake.senders import SenderVerdict
from mailplane.intake.service import check_senders
from mailplane.protocols import milter
from tests.support.api import Api

SECRET = "milter-test-secret-of-enough-length-0123"
QUEUE_ID = "4dXyZ0AbCdz1"


def _frame(command: bytes, data: bytes = b"") -> bytes:
    return struct.pack("!I", len(data) + 1) + command + data


def _cstrings(*values: str) -> bytes:
    return b"".join(v.encode() + b"\0" for v in values)


def _session(login: str, headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """(command, data) as Postfix sends them; MACRO packets get no reply."""
    packets = [
        (b"O", struct.pack("!III", 6, 0x1FF, 0x1FFFFF)),
        (b"D", b"M" + _cstrings("{auth_authen}", login, "{mail_addr}", login)),
        (b"M", _cstrings(f"<{login}>")),
    ]
    packets += [(b"L", _cstrings(name, value)) for name, value in headers]
    packets += [(b"N", b""), (b"D", b"E" + _cstrings("i", QUEUE_ID)), (b"E", b"")]
    return packets


def _converse(database: Database, packets: list[tuple[bytes, bytes]]) -> list[milter.Packet]:
    async def decide(login: str, froms: list[str], senders: list[str]) -> SenderVerdict:
        return await asyncio.to_thread(check_senders, database, login, froms, senders)

    async def run() -> list[milter.Packet]:
        server = await asyncio.start_server(
            partial(serve_connection, secret=SECRET, decide=decide), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(_frame(c, d) for c, d in packets) + _frame(b"Q"))
        await writer.drain()
        replies = []
        while (packet := await milter.read_packet(reader)) is not None:
            replies.append(packet)
        writer.close()
        server.close()
        await server.wait_closed()
        return replies

    return asyncio.run(run())


@pytest.fixture
def owner(api: Api) -> dict[str, Any]:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "writer")
    api.alias(domain["id"], "office", box["email"])
    other = api.mailbox(api.domain(api.tenant()["id"])["id"], "boss")
    return {"login": box["email"], "domain": domain["domain_ascii"], "other": other["email"]}


def test_an_owned_from_is_accepted_and_marked_for_the_intake(
    database: Database, owner: dict[str, Any]
) -> None:
    headers = [
        ("From", f" Office <office@{owner['domain']}>"),
        ("X-Mailplane-Submission", " login=boss; queue=1; sig=forged"),
        ("Subject", " hello"),
    ]
    replies = _converse(database, _session(owner["login"], headers))
    commands = [r.command for r in replies]
    # OPTNEG, then one "continue" per MAIL, HEADER and EOH, then the end-of-message edits.
    assert commands == [b"O", b"c", b"c", b"c", b"c", b"c", b"m", b"h", b"a"]
    assert replies[-3].data == b"\0\0\0\1X-Mailplane-Submission\0\0"  # the forged one goes
    name, value = milter.parse_header(replies[-2].data)
    assert name == "X-Mailplane-Submission"
    assert read_marker(SECRET, value, QUEUE_ID) == owner["login"]


@pytest.mark.parametrize(
    ("headers", "reply"),
    [
        ([("From", "{other}")], "550 5.7.1 <{other}> is not an address of {login}"),
        ([("From", "{login}"), ("Sender", "{other}")], "550 5.7.1 <{other}> is not an"),
        ([("From", "{login}"), ("From", "{login}")], "550 5.7.1 A message needs exactly one"),
        ([("Subject", "no from")], "550 5.7.1 A message needs exactly one From"),
        ([("From", "undisclosed")], "550 5.7.1 <undisclosed> is not an address"),
    ],
)
def test_a_from_the_login_does_not_own_is_refused_at_end_of_message(
    database: Database, owner: dict[str, Any], headers: list[tuple[str, str]], reply: str
) -> None:
    written = [(n, v.format(**owner)) for n, v in headers]
    replies = _converse(database, _session(owner["login"], written))
    assert replies[-1].command == b"y"
    assert replies[-1].data.decode().startswith(reply.format(**owner))
    assert b"h" not in [r.command for r in replies]  # no marker for refused mail


def test_no_login_no_mail(database: Database, owner: dict[str, Any]) -> None:
    packets = [p for p in _session(owner["login"], [("From", owner["login"])]) if p[0] != b"D"]
    replies = _converse(database, packets)
    assert replies[-1] == milter.Packet(b"y", b"530 5.7.0 Authentication required\0")
