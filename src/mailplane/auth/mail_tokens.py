"""mail_access tokens for IMAP and SMTP (SPEC section E): minting, RFC 7662 introspection
for Dovecot's oauth2 passdb, and RFC 7009 revocation.

A token is a JWT (so that its holder can read its expiry) and a row (so that it can be
revoked before then). Introspection trusts neither alone: the signature, the row, and the
mailbox, its domain and its tenant as they are now.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailplane.auth import jwt_tokens
from mailplane.config import Settings
from mailplane.errors import Unauthenticated
from mailplane.models import Domain, Mailbox, MailToken, Tenant

INTROSPECTION_PATH = "/api/v1/auth/token/introspect"
# The client Dovecot authenticates as (HTTP Basic, RFC 7662 section 2.1).
DOVECOT_CLIENT_ID = "dovecot"


def dovecot_client_secret(settings: Settings) -> str:
    """Derived from the platform secret: nothing more to store, and it changes with it."""
    key = settings.effective_secret().encode()
    return hmac.new(key, b"mailplane oauth2 introspection client", hashlib.sha256).hexdigest()


def introspection_url(settings: Settings) -> str:
    """What Dovecot calls, with its client credentials in the URL's userinfo (Dovecot's
    HTTP client sends them as Basic authentication)."""
    if settings.oauth2_introspection_url:
        return settings.oauth2_introspection_url
    secret = quote(dovecot_client_secret(settings), safe="")
    host = settings.api_host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a wildcard listener is reached on loopback)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{DOVECOT_CLIENT_ID}:{secret}@{host}:{settings.api_port}{INTROSPECTION_PATH}"


def client_is_dovecot(settings: Settings, client_id: str, client_secret: str) -> bool:
    return hmac.compare_digest(client_id, DOVECOT_CLIENT_ID) & hmac.compare_digest(
        client_secret, dovecot_client_secret(settings)
    )


def mailbox_version(mailbox: Mailbox) -> str:
    """What a mailbox's tokens are bound to besides its id: the storage id (never reused,
    unlike an id in SQLite, which hands the largest deleted id to the next row) and the
    time of the last password change (a new password ends every session and mail token)."""
    seed = f"{mailbox.storage_id}|{mailbox.password_changed_at.timestamp():.6f}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class MintedToken:
    access_token: str
    expires_in: int
    email: str
    mailbox_id: int
    jti: str
    expires_at: datetime


def mint(
    session: Session, settings: Settings, mailbox: Mailbox, issued_to: str, now: datetime
) -> MintedToken:
    """A token for this mailbox; the caller has checked that its principal may have one."""
    jti = uuid.uuid4().hex
    token, expires = jwt_tokens.issue_mail_token(
        settings,
        jti=jti,
        mailbox_id=mailbox.id,
        tenant_id=mailbox.tenant_id,
        email=mailbox.email,
        version=mailbox_version(mailbox),
        now=now,
    )
    session.add(
        MailToken(
            jti=jti,
            mailbox_id=mailbox.id,
            tenant_id=mailbox.tenant_id,
            issued_to=issued_to,
            created_at=now,
            expires_at=expires,
        )
    )
    return MintedToken(
        access_token=token,
        expires_in=int((expires - now).total_seconds()),
        email=mailbox.email,
        mailbox_id=mailbox.id,
        jti=jti,
        expires_at=expires,
    )


def mailbox_may_log_in(session: Session, mailbox: Mailbox) -> bool:
    """Active mailbox, active domain, active tenant: what Dovecot's passdb view demands for
    passwords (migration 0002, mp_dovecot_passdb), so that both ways in agree."""
    if mailbox.status != "active":
        return False
    domain = session.get(Domain, mailbox.domain_id)
    tenant = session.get(Tenant, mailbox.tenant_id)
    return (
        domain is not None
        and domain.status == "active"
        and tenant is not None
        and tenant.status == "active"
    )


INACTIVE: dict[str, Any] = {"active": False}


def introspect(session: Session, settings: Settings, token: str, now: datetime) -> dict[str, Any]:
    """RFC 7662 section 2.2: ``{"active": false}`` and nothing else for any token that may
    not be used now (expired, revoked, forged, of a deleted, suspended or moved mailbox)."""
    try:
        claims = jwt_tokens.decode_mail_token(settings, token)
    except Unauthenticated:
        return INACTIVE
    row = session.get(MailToken, claims.jti)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return INACTIVE
    mailbox = session.get(Mailbox, claims.mailbox_id)
    if (
        mailbox is None
        or row.mailbox_id != mailbox.id
        or mailbox.tenant_id != claims.tenant_id
        # A mailbox deleted and made again under the same address is another mailbox.
        or mailbox.email != claims.email
        or not hmac.compare_digest(mailbox_version(mailbox), claims.version)
        or not mailbox_may_log_in(session, mailbox)
    ):
        return INACTIVE
    return {
        "active": True,
        "username": mailbox.email,
        "scope": jwt_tokens.MAIL_SCOPE,
        "token_type": "Bearer",
        "exp": int(claims.expires_at.timestamp()),
        "iat": int(claims.issued_at.timestamp()),
        "sub": mailbox.email,
        "iss": jwt_tokens.ISSUER,
        "jti": claims.jti,
    }


@dataclass(frozen=True)
class Revoked:
    jti: str
    mailbox_id: int
    tenant_id: int
    email: str


def revoke(session: Session, settings: Settings, token: str, now: datetime) -> Revoked | None:
    """RFC 7009: what was revoked when this is a valid signed mail token that was active
    until now, None otherwise (unknown, forged, revoked before); the caller answers 200
    either way (section 2.2)."""
    try:
        claims = jwt_tokens.decode_mail_token(settings, token)
    except Unauthenticated:
        return None
    return revoke_jti(session, claims.jti, now)


def revoke_jti(
    session: Session, jti: str, now: datetime, mailbox_id: int | None = None
) -> Revoked | None:
    """Revokes one token by its id (``mailbox_id``: only if it is that mailbox's)."""
    query = select(MailToken).where(MailToken.jti == jti, MailToken.revoked_at.is_(None))
    if mailbox_id is not None:
        query = query.where(MailToken.mailbox_id == mailbox_id)
    row = session.scalar(query.with_for_update())
    if row is None:
        return None
    row.revoked_at = now
    mailbox = session.get(Mailbox, row.mailbox_id)
    session.flush()
    return Revoked(
        jti=row.jti,
        mailbox_id=row.mailbox_id,
        tenant_id=row.tenant_id,
        email=mailbox.email if mailbox is not None else "",
    )


def prune(session: Session, now: datetime) -> int:
    """Expired rows answer inactive anyway (the JWT has expired too): drop them."""
    result = session.execute(delete(MailToken).where(MailToken.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)


def active_tokens(session: Session, mailbox_id: int, now: datetime) -> list[MailToken]:
    """The mailbox's unexpired, unrevoked tokens, newest first."""
    return list(
        session.scalars(
            select(MailToken)
            .where(
                MailToken.mailbox_id == mailbox_id,
                MailToken.revoked_at.is_(None),
                MailToken.expires_at > now,
            )
            .order_by(MailToken.created_at.desc(), MailToken.jti)
        )
    )
