"""What Postfix handed the intake, and what it becomes in mailplane's queue.

Two kinds of mail reach the intake, and only two: a mailbox user's submission (it carries
a genuine submission marker for this very queue id) and mail an alias forwards to an
external address (everything else: port 25 cannot relay). A submission is signed with
its header From's domain and reported to the login if it fails; a forward is never
signed by us (its From may be anybody's on the internet), and its envelope sender is
rewritten with SRS.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.config import Settings
from mailplane.errors import MailplaneError
from mailplane.intake import headers
from mailplane.intake.marker import HEADER, read_marker
from mailplane.intake.senders import canonical, header_addresses
from mailplane.intake.srs import rewrite_sender
from mailplane.models import AliasDomain, Domain, Mailbox
from mailplane.models.statuses import MessageSource
from mailplane.names import to_a_label
from mailplane.sending.queue import NewMessage


@dataclass(frozen=True)
class Handover:
    """One SMTP transaction from Postfix: the envelope, XFORWARD IDENT (Postfix's queue
    id of the message) and, per recipient, its original recipient (DSN ORCPT: the alias
    a forward came through)."""

    mail_from: str
    recipients: list[str]
    raw: bytes
    ident: str | None = None
    original_recipients: dict[str, str] = field(default_factory=dict)


def envelope_recipient(address: str) -> str:
    """An envelope recipient as the queue stores it: the domain as an A-label."""
    local, _, domain = address.rpartition("@")
    try:
        return f"{local}@{to_a_label(domain)}"
    except MailplaneError:
        return f"{local}@{domain.lower()}"


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def _tenant_of_domain(session: Session, name: str) -> tuple[int, int] | None:
    """(tenant id, domain id) of a hosted domain or alias domain."""
    row = session.execute(select(Domain.tenant_id, Domain.id).where(Domain.name == name)).first()
    if row is None:
        row = session.execute(
            select(AliasDomain.tenant_id, AliasDomain.domain_id).where(AliasDomain.name == name)
        ).first()
    return None if row is None else (row[0], row[1])


def _header_from(raw: bytes) -> str:
    addresses = header_addresses(headers.field_values(raw, "From")) or [""]
    return addresses[0][:320]


@dataclass(frozen=True)
class _Shown:
    """What the queue shows of a message: its Message-ID, From and Subject."""

    message_id_header: str
    header_from: str
    subject: str


def _shown(raw: bytes) -> _Shown:
    return _Shown(
        headers.first_value(raw, "Message-ID")[:998],
        _header_from(raw),
        headers.first_value(raw, "Subject"),
    )


def submitted_by(settings: Settings, handover: Handover) -> str | None:
    """The login whose genuine marker this message carries, if any."""
    for value in headers.field_values(handover.raw, HEADER):
        login = read_marker(settings.effective_secret(), value, handover.ident)
        if login is not None:
            return login
    return None


def to_messages(session: Session, settings: Settings, handover: Handover) -> list[NewMessage]:
    login = submitted_by(settings, handover)
    raw = headers.remove_fields(handover.raw, HEADER)
    recipients = [envelope_recipient(r) for r in handover.recipients]
    shown = _shown(raw)
    if login is not None:
        # The milter checked the From before Postfix queued the message.
        from_address = canonical(shown.header_from) or ""
        sign_domain = _domain_of(from_address) or None
        owner = session.scalar(select(Mailbox.tenant_id).where(Mailbox.email == login))
        place = _tenant_of_domain(session, sign_domain) if sign_domain else None
        return [
            NewMessage(
                raw=raw,
                recipients=recipients,
                source=MessageSource.SMTP,
                tenant_id=owner,
                domain_id=place[1] if place and place[0] == owner else None,
                envelope_from=handover.mail_from,
                sign_domain=sign_domain,
                submitted_by=login,
                message_id_header=shown.message_id_header,
                header_from=shown.header_from,
                subject=shown.subject,
            )
        ]
    # A forward: grouped by the tenant of the alias each recipient came through.
    by_tenant: dict[int | None, list[tuple[str, str]]] = defaultdict(list)
    for given, recipient in zip(handover.recipients, recipients, strict=True):
        alias = canonical(handover.original_recipients.get(given, "")) or ""
        place = _tenant_of_domain(session, _domain_of(alias)) if alias else None
        by_tenant[place[0] if place else None].append((recipient, alias))
    envelope_from = rewrite_sender(settings, handover.mail_from)
    return [
        NewMessage(
            raw=raw,
            recipients=[recipient for recipient, _ in group],
            source=MessageSource.FORWARD,
            tenant_id=tenant,
            envelope_from=envelope_from,
            sign_domain=None,
            metadata={
                "original_sender": handover.mail_from,
                "forwarded_for": sorted({alias for _, alias in group if alias}),
            },
            message_id_header=shown.message_id_header,
            header_from=shown.header_from,
            subject=shown.subject,
        )
        for tenant, group in by_tenant.items()
    ]
