"""Short-lived access tokens for tenant admins (HS256 with the platform secret)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from mailplane.config import Settings
from mailplane.errors import Unauthenticated

ALGORITHM = "HS256"
ISSUER = "mailplane"


@dataclass(frozen=True)
class AccessClaims:
    admin_id: int
    tenant_id: int
    email: str
    expires_at: datetime


def issue_access_token(
    settings: Settings, *, admin_id: int, tenant_id: int, email: str
) -> tuple[str, int]:
    lifetime = timedelta(minutes=settings.access_token_minutes)
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": str(admin_id),
        "tid": tenant_id,
        "email": email,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, settings.effective_secret(), algorithm=ALGORITHM)
    return token, int(lifetime.total_seconds())


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            settings.effective_secret(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "tid", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("the access token has expired", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("the access token is not valid", code="invalid_token") from exc
    if claims.get("typ") != "access":
        raise Unauthenticated("this token is not an access token", code="invalid_token")
    try:
        return AccessClaims(
            admin_id=int(claims["sub"]),
            tenant_id=int(claims["tid"]),
            email=str(claims.get("email", "")),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (TypeError, ValueError) as exc:
        raise Unauthenticated("the access token is not valid", code="invalid_token") from exc


# Mailbox users (webmail) get their own token type: no code path that reads an admin's
# access token can mistake one for the other.
MAILBOX_TYPE = "mailbox"
MAIL_ACCESS_TYPE = "mail_access"
MAIL_SCOPE = "imap smtp"


@dataclass(frozen=True)
class MailboxClaims:
    mailbox_id: int
    tenant_id: int
    email: str
    # mail_tokens.mailbox_version at issue: another mailbox under a reused id, or a changed
    # password, no longer matches.
    version: str
    expires_at: datetime


@dataclass(frozen=True)
class MailAccessClaims:
    jti: str
    mailbox_id: int
    tenant_id: int
    email: str
    version: str
    issued_at: datetime
    expires_at: datetime


def issue_mailbox_token(
    settings: Settings, *, mailbox_id: int, tenant_id: int, email: str, version: str
) -> tuple[str, int]:
    lifetime = timedelta(minutes=settings.access_token_minutes)
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": f"mailbox:{mailbox_id}",
        "mbx": mailbox_id,
        "tid": tenant_id,
        "email": email,
        "ver": version,
        "typ": MAILBOX_TYPE,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, settings.effective_secret(), algorithm=ALGORITHM)
    return token, int(lifetime.total_seconds())


def issue_mail_token(
    settings: Settings,
    *,
    jti: str,
    mailbox_id: int,
    tenant_id: int,
    email: str,
    version: str,
    now: datetime,
) -> tuple[str, datetime]:
    """A ``mail_access`` JWT for IMAP/SMTP (XOAUTH2, OAUTHBEARER); the caller records the
    jti (MailToken) so that introspection can tell a revoked token."""
    expires = now + timedelta(minutes=settings.mail_token_minutes)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": email,
        "mbx": mailbox_id,
        "tid": tenant_id,
        "ver": version,
        "typ": MAIL_ACCESS_TYPE,
        "scope": MAIL_SCOPE,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": jti,
    }
    return jwt.encode(claims, settings.effective_secret(), algorithm=ALGORITHM), expires


def _decode(settings: Settings, token: str, typ: str, required: list[str]) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.effective_secret(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "typ", *required]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("the token has expired", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("the token is not valid", code="invalid_token") from exc
    if claims.get("typ") != typ:
        raise Unauthenticated(f"this is not a {typ} token", code="invalid_token")
    return claims


def token_type(token: str) -> str | None:
    """The ``typ`` claim, unverified: only to choose the right error message."""
    try:
        value = jwt.decode(token, options={"verify_signature": False}).get("typ")
    except jwt.PyJWTError:
        return None
    return value if isinstance(value, str) else None


def decode_mailbox_token(settings: Settings, token: str) -> MailboxClaims:
    claims = _decode(settings, token, MAILBOX_TYPE, ["mbx", "tid", "ver"])
    try:
        return MailboxClaims(
            mailbox_id=int(claims["mbx"]),
            tenant_id=int(claims["tid"]),
            email=str(claims.get("email", "")),
            version=str(claims["ver"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (TypeError, ValueError) as exc:
        raise Unauthenticated("the token is not valid", code="invalid_token") from exc


def decode_mail_token(settings: Settings, token: str) -> MailAccessClaims:
    claims = _decode(settings, token, MAIL_ACCESS_TYPE, ["mbx", "tid", "jti", "sub", "iat", "ver"])
    try:
        return MailAccessClaims(
            jti=str(claims["jti"]),
            mailbox_id=int(claims["mbx"]),
            tenant_id=int(claims["tid"]),
            email=str(claims["sub"]),
            version=str(claims["ver"]),
            issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (TypeError, ValueError) as exc:
        raise Unauthenticated("the token is not valid", code="invalid_token") from exc
