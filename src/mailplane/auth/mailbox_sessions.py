"""Mailbox users' sessions (webmail): login with the mailbox's own password, refresh-token
rotation and logout, throttled like tenant admins' logins (auth/service.py)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailplane.auth import jwt_tokens, refresh_rotation
from mailplane.auth.mail_tokens import mailbox_may_log_in, mailbox_version
from mailplane.auth.passwords import burn_verification, verify_password
from mailplane.auth.secrets import digest, new_secret
from mailplane.auth.service import INVALID_REFRESH, admit_login, login_succeeded
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.errors import Unauthenticated
from mailplane.models import Mailbox, MailboxRefreshToken, utcnow

MAILBOX_REFRESH_PREFIX = "mpmr_"
SUSPENDED = "this mailbox, its domain or its tenant is suspended or disabled"


@dataclass(frozen=True)
class MailboxSession:
    mailbox_id: int
    tenant_id: int
    email: str
    access_token: str
    expires_in: int
    refresh_token: str


def _issue(database: Database, settings: Settings, mailbox: Mailbox, family: str) -> MailboxSession:
    access, expires_in = jwt_tokens.issue_mailbox_token(
        settings,
        mailbox_id=mailbox.id,
        tenant_id=mailbox.tenant_id,
        email=mailbox.email,
        version=mailbox_version(mailbox),
    )
    refresh = new_secret(MAILBOX_REFRESH_PREFIX)
    with database.transaction() as session:
        session.add(
            MailboxRefreshToken(
                mailbox_id=mailbox.id,
                token_hash=digest(refresh),
                family_id=family,
                expires_at=utcnow() + timedelta(days=settings.refresh_token_days),
            )
        )
    return MailboxSession(
        mailbox_id=mailbox.id,
        tenant_id=mailbox.tenant_id,
        email=mailbox.email,
        access_token=access,
        expires_in=expires_in,
        refresh_token=refresh,
    )


def login(
    database: Database, settings: Settings, email: str, password: str, client_ip: str
) -> MailboxSession:
    attempt = admit_login(database, settings, email, client_ip)
    account = attempt.account
    with database.session(write=False) as session:
        mailbox = session.scalar(select(Mailbox).where(Mailbox.email == account))
        if mailbox is None:
            burn_verification(settings)
            raise Unauthenticated("wrong e-mail address or password", code="invalid_credentials")
        if not verify_password(mailbox.password_hash, password, settings):
            raise Unauthenticated("wrong e-mail address or password", code="invalid_credentials")
        allowed = mailbox_may_log_in(session, mailbox)
        session.expunge(mailbox)
    login_succeeded(database, attempt)
    # Only after the password: a stranger does not learn that a mailbox is suspended.
    if not allowed:
        raise Unauthenticated(SUSPENDED, code="account_disabled")
    return _issue(database, settings, mailbox, family=secrets.token_hex(16))


def is_mailbox_refresh_token(token: str) -> bool:
    return token.startswith(MAILBOX_REFRESH_PREFIX)


def refresh(database: Database, settings: Settings, token: str) -> MailboxSession:
    """Rotation with reuse detection (auth/refresh_rotation.py)."""
    now = utcnow()
    with database.transaction() as session:
        claim = refresh_rotation.claim(session, MailboxRefreshToken, token, now)
        row = claim.row
        mailbox = None
        if claim.claimed and isinstance(row, MailboxRefreshToken):
            mailbox = session.get(Mailbox, row.mailbox_id)
            if mailbox is not None and row.created_at < mailbox.password_changed_at:
                # A login from before the last password change: the new password ends it.
                refresh_rotation.revoke_family(session, MailboxRefreshToken, row.family_id, now)
                mailbox = None
        allowed = mailbox is not None and mailbox_may_log_in(session, mailbox)
        if mailbox is not None:
            session.expunge(mailbox)
        family = row.family_id if row is not None else ""
    if mailbox is None:
        raise Unauthenticated(INVALID_REFRESH, code="invalid_token")
    if not allowed:
        raise Unauthenticated(SUSPENDED, code="account_disabled")
    return _issue(database, settings, mailbox, family)


def logout(database: Database, token: str) -> None:
    with database.transaction() as session:
        refresh_rotation.revoke_login(session, MailboxRefreshToken, token, utcnow())


def prune(session: Session, now: datetime) -> int:
    """Expired logins cannot be refreshed any more, nor is their reuse worth detecting."""
    result = session.execute(
        delete(MailboxRefreshToken).where(MailboxRefreshToken.expires_at < now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
