"""The submission milter: one conversation with Postfix's submission smtpd per client
connection. Postfix runs it on 587/465 only, with milter_default_action = tempfail, so
if this server is down users get a 4xx and retry; mail is never let through unchecked.

At end of data it refuses a header From the login does not own (senders.judge), and
otherwise marks the message as this login's submission (marker.make_marker) for the
intake. Decisions come from ``Decide``; this module only speaks the protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from mailplane.intake.marker import HEADER, make_marker
from mailplane.intake.senders import SenderVerdict
from mailplane.protocols import milter

log = logging.getLogger(__name__)

# (login, From values, Sender values) -> verdict; runs the database check.
Decide = Callable[[str, list[str], list[str]], Awaitable[SenderVerdict]]

_WANTED_ACTIONS = milter.ACTION_ADD_HEADERS | milter.ACTION_CHANGE_HEADERS
# Only the headers and the end of the message matter here: skip the rest of the dialogue.
_SKIPPED = (
    milter.SKIP_CONNECT
    | milter.SKIP_HELO
    | milter.SKIP_RCPT
    | milter.SKIP_BODY
    | milter.SKIP_UNKNOWN
    | milter.SKIP_DATA
)


@dataclass
class _Message:
    login: str = ""
    from_values: list[str] = field(default_factory=list)
    sender_values: list[str] = field(default_factory=list)
    # How many X-Mailplane-Submission headers the client wrote itself: all are deleted.
    forged_markers: int = 0


@dataclass
class MilterConversation:
    secret: str
    decide: Decide
    macros: dict[str, str] = field(default_factory=dict)
    message: _Message = field(default_factory=_Message)

    async def answer(self, packet: milter.Packet) -> list[bytes]:
        """The replies to one command (none for MACRO, ABORT and QUIT)."""
        command = packet.command
        if command == milter.OPTNEG:
            offer = milter.parse_negotiation(packet.data)
            return [milter.negotiation_reply(offer, _WANTED_ACTIONS, _SKIPPED)]
        if command == milter.MACRO:
            _, values = milter.parse_macros(packet.data)
            self.macros.update(values)
            return []
        if command == milter.MAIL:
            self.message = _Message(login=self.macros.get("auth_authen", ""))
        elif command == milter.HEADER:
            self._header(*milter.parse_header(packet.data))
        elif command == milter.BODYEOB:
            return await self._end_of_message()
        elif command == milter.ABORT:
            self.message = _Message()
            return []
        elif command == milter.QUIT_NEW_CONNECTION:
            # The MTA reuses this milter connection for its next SMTP client.
            self.macros, self.message = {}, _Message()
            return []
        elif command in milter.NO_REPLY:
            return []
        return [milter.encode(milter.CONTINUE)]

    def _header(self, name: str, value: str) -> None:
        lowered = name.lower()
        if lowered == "from":
            self.message.from_values.append(value)
        elif lowered == "sender":
            self.message.sender_values.append(value)
        elif lowered == HEADER.lower():
            self.message.forged_markers += 1

    async def _end_of_message(self) -> list[bytes]:
        message, self.message = self.message, _Message()
        try:
            verdict = await self.decide(message.login, message.from_values, message.sender_values)
        except Exception:
            log.exception("sender check failed; the client gets a temporary failure")
            return [milter.reply_code("451 4.3.0 Sender check unavailable; try again later")]
        if not verdict.allowed:
            log.info("refused a submission by %r: %s", message.login, verdict.reply)
            return [milter.reply_code(verdict.reply)]
        queue_id = self.macros.get("i", "")
        try:
            marker = make_marker(self.secret, message.login, queue_id)
        except ValueError:
            return [milter.reply_code("451 4.3.0 Cannot mark this submission; try again")]
        # Deleting the nth occurrence shifts the rest down: always delete the first.
        replies = [milter.delete_header(HEADER, 1) for _ in range(message.forged_markers)]
        return [*replies, milter.add_header(HEADER, marker), milter.encode(milter.ACCEPT)]


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: str, decide: Decide
) -> None:
    conversation = MilterConversation(secret, decide)
    try:
        while (packet := await milter.read_packet(reader)) is not None:
            if packet.command == milter.QUIT:
                break
            replies = await conversation.answer(packet)
            if replies:
                writer.write(b"".join(replies))
                await writer.drain()
    except milter.MilterProtocolError as exc:
        log.warning("milter connection dropped: %s", exc)
    except Exception:
        # Closing makes Postfix apply milter_default_action (tempfail): a 4xx, never
        # unchecked mail.
        log.exception("milter failed; the client gets a temporary failure")
    finally:
        writer.close()
