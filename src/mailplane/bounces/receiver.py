"""The bounce receiver: a second SMTP listener of ``mailplane intake`` (loopback,
``bounce_port``) to which Postfix relays mail for the platform's bounce domain.

Four kinds of address exist there (docs/mail-plane.md): VERP return paths, whose
HMAC must verify, SRS addresses, which must reverse, the mailto unsubscribe addresses of
bulk mail (``unsubscribe+<token>``, unsubscribe/tokens.py), whose token must verify, and
the feedback address (``feedback_local_part``) where ARF spam reports arrive
(``complaints/``); anything else is refused at RCPT, so nobody can report bounces for
deliveries they did not send. Each message is one transaction, answered 250 only after
its commit; any failure is a 451 and Postfix retries.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import srslib
from aiosmtpd.smtp import Envelope, Session

from mailplane.bounces import parsing, recording
from mailplane.complaints import recording as complaints
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.delivery.envelope import parse_verp
from mailplane.intake import headers
from mailplane.intake.handover import envelope_recipient
from mailplane.intake.smtp_server import IntakeSMTP, PostfixHandoverHooks
from mailplane.intake.srs import rewriter
from mailplane.models import utcnow
from mailplane.models.statuses import MessageSource
from mailplane.sending.queue import NewMessage, enqueue
from mailplane.unsubscribe import service as unsubscribe
from mailplane.unsubscribe import tokens

log = logging.getLogger(__name__)

REFUSED = "550 5.1.1 No such bounce address"


@dataclass(frozen=True)
class Target:
    """What an address of the bounce domain stands for: a delivery, an SRS sender, or
    the feedback address."""

    delivery_id: int | None = None
    original_sender: str | None = None
    # unsubscribe+<token>@: the recipient of this delivery unsubscribes (RFC 2369 mailto).
    unsubscribe_delivery_id: int | None = None
    feedback: bool = False


def target_of(settings: Settings, address: str) -> Target | None:
    """None for anything that is neither a verified VERP address nor a valid SRS one."""
    address = envelope_recipient(address)
    local, _, domain = address.rpartition("@")
    if domain != settings.effective_bounce_domain:
        return None
    if local.lower() == settings.feedback_local_part:
        return Target(feedback=True)
    delivery_id = parse_verp(settings, address)
    if delivery_id is not None:
        return Target(delivery_id=delivery_id)
    if local[:12].lower() == "unsubscribe+":
        key = tokens.derive_key(settings.effective_secret())
        unsubscribed = tokens.verify(key, local[12:])
        return None if unsubscribed is None else Target(unsubscribe_delivery_id=unsubscribed)
    if local[:5].upper() in ("SRS0=", "SRS1="):
        try:
            original = str(rewriter(settings).reverse(address))
        except (srslib.Error, ValueError):
            return None
        if "@" in original and "\r" not in original and "\n" not in original:
            return Target(original_sender=original)
    return None


def receive(settings: Settings, database: Database, raw: bytes, recipients: list[str]) -> str:
    """One message for the bounce domain, in one transaction; what was done."""
    now = utcnow()
    targets = [t for t in (target_of(settings, a) for a in recipients) if t is not None]
    # Read as a bounce only when it went to a return path (a feedback report is no DSN).
    bounce = parsing.read(raw) if any(t.delivery_id is not None for t in targets) else None
    done: list[str] = []
    with database.transaction() as session:
        for target in targets:  # checked at RCPT; gone here only if a secret rotated since
            if target.feedback:
                done.append(complaints.receive(session, settings, raw, now))
            elif target.delivery_id is not None and bounce is not None:
                done.append(recording.record(session, target.delivery_id, bounce, now))
            elif target.unsubscribe_delivery_id is not None:
                left = unsubscribe.unsubscribe(
                    session, target.unsubscribe_delivery_id, "mailto", now
                )
                done.append("unsubscribed" if left is not None else "unsubscribe: unknown")
            elif target.original_sender is not None:
                # A bounce of forwarded mail: back to whoever sent the original, with the
                # null sender so that it can never bounce again (RFC 5321 section 4.5.5).
                queued = enqueue(
                    session,
                    NewMessage(
                        raw=raw,
                        recipients=[target.original_sender],
                        source=MessageSource.FORWARD,
                        tenant_id=None,
                        envelope_from="",
                        message_id_header=headers.first_value(raw, "Message-ID")[:998],
                        header_from=headers.first_value(raw, "From")[:320],
                        subject=headers.first_value(raw, "Subject"),
                        metadata={"srs_bounce": True},
                    ),
                    now=now,
                )
                done.append(f"returned as {queued.message_id}")
    return ", ".join(done) or "ignored"


class BounceHandler(PostfixHandoverHooks):
    """The bounce receiver: RCPT checks the VERP/SRS address again, DATA records the
    report in one transaction and answers after its commit."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook)
        self,
        server: IntakeSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if target_of(self.settings, address) is None:
            return REFUSED
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(  # noqa: N802 (aiosmtpd hook)
        self, server: IntakeSMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        try:
            done = await asyncio.to_thread(
                receive, self.settings, self.database, raw, list(envelope.rcpt_tos)
            )
        except Exception:
            log.exception("could not record a bounce")
            return "451 4.3.0 Could not record the bounce; try again later"
        log.info("bounce for %s: %s", ", ".join(envelope.rcpt_tos), done)
        return "250 2.0.0 Ok"
