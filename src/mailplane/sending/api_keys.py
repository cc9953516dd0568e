"""Send API keys: created, changed and revoked by operators and tenant admins.

A key is ``mpk_<public_id>_<secret>``: the public id finds the row, the SHA-256 of the
whole key proves it (256 random bits: a slow hash would add only latency). The whole key
is answered once, at creation. A key sends as its own domain only; a *form* key is public
(it sits in a web page), so it is bound to exact origins and a fixed recipient list.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import Principal, get_owned
from mailplane.auth.secrets import digest
from mailplane.db.pagination import Page, keyset_page
from mailplane.domains.service import get_domain
from mailplane.errors import InvalidInput
from mailplane.models import ApiKey, Domain, utcnow
from mailplane.names import normalize_address, split_address
from mailplane.sending import cors
from mailplane.sending.key_schemas import ApiKeyCreate, ApiKeyUpdate

KEY_PREFIX = "mpk_"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


@dataclass(frozen=True)
class NewKey:
    row: ApiKey
    key: str  # the whole key, to be shown once


def new_key() -> tuple[str, str]:
    """(public id, whole key)."""
    public_id = secrets.token_hex(8)
    return public_id, f"{KEY_PREFIX}{public_id}_{secrets.token_urlsafe(32)}"


def public_id_of(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX):
        return None
    public_id, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    if not sep or not secret or len(public_id) != 16:
        return None
    return public_id


def normalize_origin(origin: str) -> str:
    """An exact web origin: https://host[:port], or http:// for a local development host.
    Browsers send it as scheme://host[:port] with no path; anything else never matches."""
    parts = urlsplit(origin.strip())
    try:
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as exc:  # a port that is not a number
        raise InvalidInput(f"{origin!r} is not an origin", code="invalid_origin") from exc
    local = host in LOCAL_HOSTS or host.endswith(".localhost")
    valid = (
        parts.scheme in ("https", "http")
        and host
        and (parts.scheme == "https" or local)
        and not parts.path.strip("/")
        and not parts.query
        and not parts.fragment
        and not parts.username
        and not parts.password
    )
    if not valid:
        raise InvalidInput(
            f"{origin!r} is not an origin (https://host[:port], or http://localhost[:port])",
            code="invalid_origin",
        )
    if not host.isascii():
        # Browsers send the ASCII form (RFC 6454 serializes the host as an A-label).
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidInput(f"{origin!r} is not an origin", code="invalid_origin") from exc
    default = {"https": 443, "http": 80}[parts.scheme]
    suffix = f":{port}" if port and port != default else ""  # browsers omit the default
    return f"{parts.scheme}://{host}{suffix}"


def _from_address(value: str | None, domain: Domain) -> str | None:
    if value is None:
        return None
    address = normalize_address(value, "from_address")
    if split_address(address)[1] != domain.name:
        raise InvalidInput(
            f"from_address must be an address of {domain.name}", code="from_domain_mismatch"
        )
    return address


def _check_form_key(key: ApiKey) -> None:
    if key.kind == "form" and (not key.allowed_origins or not key.allowed_recipients):
        raise InvalidInput(
            "a form key needs allowed_origins and allowed_recipients", code="form_key_unbound"
        )


def create_key(
    session: Session, principal: Principal, domain_id: int, data: ApiKeyCreate
) -> NewKey:
    principal.require_write()
    domain = get_domain(session, principal, domain_id)
    public_id, whole = new_key()
    key = ApiKey(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        name=data.name,
        kind=data.kind,
        public_id=public_id,
        secret_hash=digest(whole),
        allowed_origins=sorted({normalize_origin(o) for o in data.allowed_origins}),
        allowed_recipients=sorted(
            {normalize_address(r, "allowed_recipients") for r in data.allowed_recipients}
        ),
        rate_limit_per_hour=data.rate_limit_per_hour,
        default_type=data.default_type,
        from_address=_from_address(data.from_address, domain),
        expires_at=data.expires_at,
    )
    _check_form_key(key)
    session.add(key)
    session.flush()
    _audit(session, principal, "api_key.create", key)
    cors.forget()
    return NewKey(key, whole)


def get_key(session: Session, principal: Principal, key_id: int) -> ApiKey:
    return get_owned(session, principal, ApiKey, key_id, "api key")


def list_keys(
    session: Session, principal: Principal, domain_id: int, *, limit: int, cursor: str | None
) -> Page[ApiKey]:
    domain = get_domain(session, principal, domain_id)
    query = select(ApiKey).where(ApiKey.domain_id == domain.id)
    return keyset_page(session, query, ApiKey.id, limit=limit, cursor=cursor)


def update_key(session: Session, principal: Principal, key_id: int, data: ApiKeyUpdate) -> ApiKey:
    principal.require_write()
    key = get_key(session, principal, key_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and data.name is not None:
        key.name = data.name
    if data.allowed_origins is not None:
        key.allowed_origins = sorted({normalize_origin(o) for o in data.allowed_origins})
    if data.allowed_recipients is not None:
        key.allowed_recipients = sorted(
            {normalize_address(r, "allowed_recipients") for r in data.allowed_recipients}
        )
    if "rate_limit_per_hour" in changes:
        key.rate_limit_per_hour = data.rate_limit_per_hour
    if data.default_type is not None:
        key.default_type = data.default_type
    if "from_address" in changes:
        domain = session.get(Domain, key.domain_id)
        assert domain is not None
        key.from_address = _from_address(data.from_address, domain)
    if "expires_at" in changes:
        key.expires_at = data.expires_at
    _check_form_key(key)
    session.flush()
    _audit(session, principal, "api_key.update", key, sorted(changes))
    cors.forget()
    return key


def revoke_key(session: Session, principal: Principal, key_id: int) -> None:
    principal.require_write()
    key = get_key(session, principal, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
        _audit(session, principal, "api_key.revoke", key)
    cors.forget()


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    key: ApiKey,
    changed: list[str] | None = None,
) -> None:
    # Never the secret nor its hash: the public prefix names the key.
    details: dict[str, object] = {
        "name": key.name,
        "kind": key.kind,
        "key_prefix": f"{KEY_PREFIX}{key.public_id}",
        "domain_id": key.domain_id,
    }
    if changed is not None:
        details["changed"] = changed
    record(
        session,
        principal,
        action,
        object_type="api_key",
        object_id=key.id,
        tenant_id=key.tenant_id,
        details=details,
    )
