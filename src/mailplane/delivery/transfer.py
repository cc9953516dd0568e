"""One SMTP transaction for one delivery, turned into an ``Attempt``.

Each delivery has its own VERP return path, so each is its own transaction (MAIL, RCPT,
DATA) on a pooled connection. Errors are classified here, where they enter: a reply code
by ``outcomes.kind_of_reply``; a dropped connection, a timeout or a refused connection as
a deferral.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiosmtplib

from mailplane.delivery.connections import ConnectFailed, Pools
from mailplane.delivery.outcomes import Attempt, Kind, kind_of_reply
from mailplane.delivery.routes import NoRoute, Route
from mailplane.models import utcnow


@dataclass(frozen=True)
class Envelope:
    delivery_id: int
    sender: str
    recipient: str
    data: bytes


def _options(envelope: Envelope, extensions: dict[str, str]) -> tuple[list[str], str | None]:
    """MAIL FROM parameters: BODY=8BITMIME for 8-bit content (RFC 6152) and SMTPUTF8 for
    non-ASCII addresses (RFC 6531) when the server offers them; encoding None: the
    addresses cannot be sent to this server."""
    options = []
    if "8bitmime" in extensions and not envelope.data.isascii():
        options.append("BODY=8BITMIME")
    if envelope.sender.isascii() and envelope.recipient.isascii():
        return options, "ascii"
    if "smtputf8" not in extensions:
        return options, None
    return [*options, "SMTPUTF8"], "utf-8"


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"


async def send(pools: Pools, route: Route | NoRoute, envelope: Envelope) -> Attempt:
    started = utcnow()
    clock = time.monotonic()

    def attempt(
        kind: Kind, code: int | None, reply: str, host: str | None = None, ip: str | None = None
    ) -> Attempt:
        return Attempt(
            envelope.delivery_id,
            kind,
            code,
            reply,
            started,
            int((time.monotonic() - clock) * 1000),
            host,
            ip,
        )

    if isinstance(route, NoRoute):
        return attempt(Kind.FAILED if route.permanent else Kind.DEFERRED, route.code, route.reply)
    try:
        async with pools.connection(route) as connection:
            host, ip = connection.host.name, connection.host.address
            smtp = connection.smtp
            try:
                if connection.needs_reset:
                    await smtp.rset()
                    connection.needs_reset = False
                mail_options, encoding = _options(envelope, smtp.esmtp_extensions)
                if encoding is None:
                    # RFC 6531 section 3.2: no SMTPUTF8 at the server, no way to send it.
                    reply = "553 5.6.7 non-ASCII address and the server has no SMTPUTF8"
                    return attempt(Kind.BOUNCED, 553, reply, host, ip)
                await smtp.mail(envelope.sender, options=mail_options, encoding=encoding)
                await smtp.rcpt(envelope.recipient, encoding=encoding)
                response = await smtp.data(envelope.data)
            except aiosmtplib.SMTPResponseException as exc:
                # Refused at MAIL, RCPT or DATA (421 also closed the connection).
                connection.needs_reset = True
                return attempt(
                    kind_of_reply(exc.code), exc.code, _reply(exc.code, exc.message), host, ip
                )
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                connection.close()
                reason = f"4.4.2 connection to {host} lost: {type(exc).__name__} {exc}".strip()
                return attempt(Kind.DEFERRED, None, reason, host, ip)
            return attempt(
                kind_of_reply(response.code),
                response.code,
                _reply(response.code, response.message),
                host,
                ip,
            )
    except ConnectFailed as failed:
        host_name = failed.host.name if failed.host else None
        host_ip = failed.host.address if failed.host else None
        return attempt(Kind.DEFERRED, failed.code, failed.reply, host_name, host_ip)
