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
