"""Platform service tokens: created and revoked from the CLI, shown once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import SCOPES, SYSTEM
from mailplane.auth.secrets import SERVICE_TOKEN_PREFIX, digest, new_secret
from mailplane.errors import InvalidInput, NotFound
from mailplane.models import ServiceToken, utcnow


def create(session: Session, name: str, scopes: list[str]) -> tuple[ServiceToken, str]:
    unknown = set(scopes) - SCOPES
    if unknown or not scopes:
        raise InvalidInput(
            f"scopes must be among {sorted(SCOPES)}; got {scopes}", code="invalid_scope"
        )
    if not name.strip() or len(name) > 100:
        raise InvalidInput("a token needs a name of 1 to 100 characters", code="invalid_name")
    secret = new_secret(SERVICE_TOKEN_PREFIX)
    token = ServiceToken(name=name.strip(), token_hash=digest(secret), scopes=" ".join(scopes))
    session.add(token)
    session.flush()
    record(
        session,
        SYSTEM,
        "service_token.create",
        object_type="service_token",
        object_id=token.id,
        tenant_id=None,
        details={"name": token.name, "scopes": scopes},
    )
    return token, secret


def list_all(session: Session) -> list[ServiceToken]:
    return list(session.scalars(select(ServiceToken).order_by(ServiceToken.id)))


def revoke(session: Session, token_id: int) -> ServiceToken:
    token = session.get(ServiceToken, token_id)
    if token is None:
        raise NotFound(f"no service token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record(
            session,
            SYSTEM,
            "service_token.revoke",
            object_type="service_token",
            object_id=token.id,
            tenant_id=None,
            details={"name": token.name},
        )
    return token
