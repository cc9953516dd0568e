"""Who is sending: the API key of a send request, checked in one short read.

The key comes as ``Authorization: Bearer mpk_...`` or ``X-Api-Key: mpk_...``. An Origin
header never authenticates anything: it only narrows what a form key may do.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, load_only

from mailplane.auth.secrets import digest
from mailplane.db import Database
from mailplane.domains.verification.state import can_send
from mailplane.errors import Forbidden, Unauthenticated
from mailplane.models import ApiKey, Domain, Tenant
from mailplane.models.statuses import Status, VerificationStatus
from mailplane.sending.api_keys import KEY_PREFIX, public_id_of

# last_used_at is written at most this often per key and process: a burst of sends with
# one key is one UPDATE, not one per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
_touched: dict[int, float] = {}
_touched_lock = threading.Lock()


@dataclass(frozen=True)
class SendKey:
    """A verified key and what it may do, as plain values (no ORM object leaves the read)."""

    id: int
    tenant_id: int
    domain_id: int
    domain_name: str
    kind: str
    allowed_origins: frozenset[str]
    allowed_recipients: frozenset[str]
    rate_limit_per_hour: int | None
    default_type: str
    from_address: str
    tenant_rate_per_hour: int | None
    last_used_at: datetime | None
    # None: the domain may send now; else the error code that says why not.
    domain_refusal: str | None

    @property
    def is_form(self) -> bool:
        return self.kind == "form"


def key_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip().startswith(KEY_PREFIX):
            return token.strip()
    return None


def authenticate(database: Database, key: str, origin: str | None, now: datetime) -> SendKey:
    public_id = public_id_of(key)
    if public_id is None:
        raise Unauthenticated("not a mailplane API key (mpk_...)", code="invalid_api_key")
    with database.session(write=False) as session:
        row = session.execute(
            select(ApiKey, Domain, Tenant.status, Tenant.send_rate_per_hour)
            .join(Domain, Domain.id == ApiKey.domain_id)
            .join(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(ApiKey.public_id == public_id)
            # Not the domain's verification report or DNS settings (JSON, parsed per row):
            # what deciding whether it may send needs, on every send.
            .options(
                load_only(
                    Domain.id,
                    Domain.name,
                    Domain.status,
                    Domain.verification_status,
                    Domain.owned_at,
                )
            )
        ).one_or_none()
    if row is None or not hmac.compare_digest(row[0].secret_hash, digest(key)):
        raise Unauthenticated("unknown API key", code="invalid_api_key")
    api_key, domain, tenant_status, tenant_rate = row
    domain_name = domain.name
    if api_key.revoked_at is not None:
        raise Unauthenticated("this API key was revoked", code="api_key_revoked")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise Unauthenticated("this API key has expired", code="api_key_expired")
    if tenant_status != Status.ACTIVE:
        raise Forbidden("this tenant is suspended", code="tenant_suspended")
    send_key = SendKey(
        id=api_key.id,
        tenant_id=api_key.tenant_id,
        domain_id=api_key.domain_id,
        domain_name=domain_name,
        kind=api_key.kind,
        allowed_origins=frozenset(api_key.allowed_origins),
        allowed_recipients=frozenset(api_key.allowed_recipients),
        rate_limit_per_hour=api_key.rate_limit_per_hour,
        default_type=api_key.default_type,
        from_address=api_key.from_address or f"noreply@{domain_name}",
        tenant_rate_per_hour=tenant_rate,
        last_used_at=api_key.last_used_at,
        domain_refusal=_refusal(domain),
    )
    if send_key.is_form and (origin is None or origin not in send_key.allowed_origins):
        raise Forbidden(
            "this form key may only be used from its allowed origins", code="origin_not_allowed"
        )
    return send_key


def _refusal(domain: Domain) -> str | None:
    if can_send(domain):
        return None
    if domain.status != Status.ACTIVE:
        return "domain_inactive"
    if domain.verification_status == VerificationStatus.SENDING_DISABLED:
        return "sending_disabled"
    return "domain_not_verified"


def touch_if_due(session: Session, key: SendKey, now: datetime) -> None:
    """Note the key's use inside the caller's write, at most once a minute per process."""
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    with _touched_lock:
        seen = time.monotonic()
        if seen - _touched.get(key.id, -1e9) < LAST_USED_RESOLUTION.total_seconds():
            return
        _touched[key.id] = seen
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
    )
