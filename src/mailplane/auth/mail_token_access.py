"""Which mailbox a caller may have a mail token for (POST /api/v1/auth/mail-token)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.auth.principals import Principal
from mailplane.errors import InvalidInput, NotFound
from mailplane.models import Alias, AliasDestination, Mailbox
from mailplane.names import normalize_address

UNKNOWN = "no mailbox that you may use has this address"


def _address(email: str) -> str:
    try:
        return normalize_address(email, "email")
    except InvalidInput:
        raise NotFound(UNKNOWN) from None


def for_mailbox_user(session: Session, own: Mailbox, email: str | None) -> Mailbox:
    """The user's own mailbox, also when asked by an alias address that delivers to it
    (the login name of IMAP and SMTP is the mailbox's address, which the answer shows)."""
    if email is None or _address(email) == own.email:
        return own
    delivers_here = session.scalar(
        select(Alias.id)
        .join(AliasDestination, AliasDestination.alias_id == Alias.id)
        .where(
            Alias.source == _address(email),
            Alias.active.is_(True),
            Alias.tenant_id == own.tenant_id,
            AliasDestination.address == own.email,
        )
        .limit(1)
    )
    if delivers_here is None:
        raise NotFound(UNKNOWN)
    return own


def for_principal(session: Session, principal: Principal, email: str | None) -> Mailbox:
    """Tenant admins: a mailbox of their tenant; operators: any mailbox."""
    if email is None:
        raise InvalidInput('name the mailbox: {"email": "user@example.com"}', code="email_required")
    mailbox = session.scalar(
        select(Mailbox).where(
            Mailbox.email == _address(email), principal.tenant_filter(Mailbox.tenant_id)
        )
    )
    if mailbox is None:
        raise NotFound(UNKNOWN)
    return mailbox
