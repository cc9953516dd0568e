"""The intake's SMTP side: an aiosmtpd server that only Postfix talks to.

It answers 250 only after the message is committed to mailplane's queue, so Postfix
deletes its copy only once mailplane holds one; any failure is a 451 and Postfix keeps
the message and retries. It speaks the two extensions Postfix uses to tell what it
knows: XFORWARD (the original client and, as IDENT, the queue id; Postfix
XFORWARD_README) and DSN (RFC 3461), so that Postfix sends ``ORCPT=rfc822;<alias>``:
the address a forwarded recipient was originally sent to.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailplane.intake.handover import Handover

log = logging.getLogger(__name__)

XFORWARD_ATTRIBUTES = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE")
# DSN parameters (RFC 3461): accepted and, but for ORCPT, left to the delivery engine.
_DSN_PARAMETERS = frozenset({"RET", "ENVID", "NOTIFY", "ORCPT"})
_XTEXT = re.compile(r"\+([0-9A-Fa-f]{2})")

# Resolves to the queued message ids once the handover is committed; raises otherwise.
QueueMessage = Callable[[Handover], Awaitable[str]]


def xtext_decode(value: str) -> str:
    """RFC 3461 section 4: "+XX" is the byte with that hex value."""
    return _XTEXT.sub(lambda m: chr(int(m.group(1), 16)), value)


class IntakeEnvelope(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.xforward: dict[str, str] = {}
        self.original_recipients: dict[str, str] = {}


class IntakeSMTP(SMTP):
    """aiosmtpd's server plus XFORWARD, DSN parameters and a client allow-list."""

    def __init__(
        self,
        handler: Any,
        trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self.trusted = list(trusted)

    def _create_envelope(self) -> IntakeEnvelope:
        return IntakeEnvelope()

    def client_is_trusted(self) -> bool:
        peer = self.session.peer if self.session is not None else None
        try:
            address = ipaddress.ip_address(peer[0] if isinstance(peer, tuple) else "")
        except ValueError:
            return False
        return address.is_loopback or any(address in network for network in self.trusted)

    def _getparams(self, params: Sequence[str]) -> dict[str, str | bool] | None:
        # aiosmtpd refuses every parameter it does not implement itself; the DSN ones are
        # read by the hooks below from the option lists, so drop them here.
        result = super()._getparams(params)
        if result is not None:
            for name in _DSN_PARAMETERS:
                result.pop(name, None)
        return result

    async def smtp_XFORWARD(self, arg: str | None) -> None:  # noqa: N802 (SMTP verb)
        if not self.client_is_trusted():
            await self.push("550 5.7.1 XFORWARD not permitted")
            return
        envelope = self.envelope
        if not isinstance(envelope, IntakeEnvelope) or envelope.mail_from is not None:
            await self.push("503 5.5.1 XFORWARD belongs before MAIL")
            return
        for item in (arg or "").split():
            name, equals, value = item.partition("=")
            if not equals or name.upper() not in XFORWARD_ATTRIBUTES:
                await self.push("501 5.5.4 Bad XFORWARD attribute")
                return
            envelope.xforward[name.upper()] = xtext_decode(value)
        await self.push("250 2.0.0 Ok")


class PostfixHandoverHooks:
    """aiosmtpd hooks every listener fed by the managed Postfix shares: EHLO offers
    XFORWARD and DSN, MAIL comes only from trusted clients."""

    async def handle_EHLO(  # noqa: N802 (aiosmtpd hook)
        self,
        server: IntakeSMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        extra = ["250-XFORWARD " + " ".join(XFORWARD_ATTRIBUTES), "250-DSN"]
        return [*responses[:-1], *extra, responses[-1]]

    async def handle_MAIL(  # noqa: N802 (aiosmtpd hook)
        self,
        server: IntakeSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if not server.client_is_trusted():
            return "554 5.7.1 This service takes mail from the platform's Postfix only"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"


class IntakeHandler(PostfixHandoverHooks):
    """The outbound intake: the DATA hook answers after ``queue_message`` has committed."""

    def __init__(self, queue_message: QueueMessage) -> None:
        self.queue_message = queue_message

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook)
        self,
        server: IntakeSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        for option in options:
            name, _, value = option.partition("=")
            kind, _, original = xtext_decode(value).partition(";")
            if name.upper() == "ORCPT" and kind.lower() in ("rfc822", "utf-8") and original:
                assert isinstance(envelope, IntakeEnvelope)
                envelope.original_recipients[address] = original.lower()
        return "250 2.1.5 Ok"

    async def handle_DATA(  # noqa: N802 (aiosmtpd hook)
        self, server: IntakeSMTP, session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope, IntakeEnvelope)
        ident = envelope.xforward.get("IDENT")
        handover = Handover(
            # aiosmtpd writes the null sender as "<>".
            mail_from="" if envelope.mail_from in (None, "<>") else str(envelope.mail_from),
            recipients=list(envelope.rcpt_tos),
            raw=envelope.original_content or b"",
            ident=None if ident in (None, "[UNAVAILABLE]") else ident,
            original_recipients=dict(envelope.original_recipients),
        )
        try:
            queued = await self.queue_message(handover)
        except Exception:
            # Postfix keeps the message and tries again: nothing is lost.
            log.exception("could not queue Postfix's message %s", ident)
            return "451 4.3.0 Could not queue the message; try again later"
        log.info("queued Postfix's message %s as %s", ident, queued)
        return f"250 2.0.0 Ok: queued as {queued}"
