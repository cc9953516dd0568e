"""Tenant admin sessions: login with throttling, refresh-token rotation, logout.

Each step runs its own short transactions (not the request's), because a failed login
must still be counted and a reused refresh token must still revoke its family although
the request itself ends in an error.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from mailplane.auth import jwt_tokens, refresh_rotation, throttling
from mailplane.auth.passwords import burn_verification, verify_password
from mailplane.auth.secrets import REFRESH_TOKEN_PREFIX, digest, new_secret
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.errors import Conflict, InvalidInput, Unauthenticated
from mailplane.models import RefreshToken, Tenant, TenantAdmin, utcnow
from mailplane.names import normalize_address

INVALID_REFRESH = "the refresh token is unknown, used or expired"


def _issue_pair(
    database: Database, settings: Settings, admin: TenantAdmin, family_id: str
) -> tuple[str, int, str]:
    access, expires_in = jwt_tokens.issue_access_token(
        settings, admin_id=admin.id, tenant_id=admin.tenant_id, email=admin.email
    )
    refresh = new_secret(REFRESH_TOKEN_PREFIX)
    with database.transaction() as session:
        session.add(
            RefreshToken(
                admin_id=admin.id,
                token_hash=digest(refresh),
                family_id=family_id,
                expires_at=utcnow() + timedelta(days=settings.refresh_token_days),
            )
        )
        stored = session.get(TenantAdmin, admin.id)
        if stored is not None:
            stored.last_login_at = utcnow()
    return access, expires_in, refresh


def account_key(email: str) -> str:
    """The address as tenant admins are stored (IDN domain as A-label), so that a login with
    the Unicode form finds the account and counts against the same throttle."""
    try:
        return normalize_address(email, "email")
    except InvalidInput:
        return email.strip().lower()


def login_limits(
    settings: Settings, account: str, source: str, known: bool
) -> list[throttling.Limit]:
    """Pair first, then network, then account: a refused attempt is not counted against
    the counters after the one that refused it (nor, after rollback, any of them)."""
    return [
        throttling.Limit(f"login:pair:{source}|{account}", settings.login_max_failures_per_source),
        throttling.Limit(
            f"login:ip:{source}", None if known else settings.login_max_failures_per_ip
        ),
        throttling.Limit(
            f"login:account:{account}", None if known else settings.login_max_failures_per_account
        ),
    ]


@dataclass(frozen=True)
class LoginAttempt:
    account: str
    source: str
    limits: list[throttling.Limit]


def admit_login(database: Database, settings: Settings, email: str, client_ip: str) -> LoginAttempt:
    """Counts the attempt against its throttles (its own transaction, so that a failed
    login is counted although the request fails); 429 when one is exhausted. Tenant admins
    and mailbox users share the counters of an address."""
    account = account_key(email)
    source = throttling.client_network(client_ip)
    known_since = utcnow() - timedelta(days=settings.login_known_source_days)
    with database.transaction() as session:
        known = throttling.is_known_source(session, account, source, known_since)
        limits = login_limits(settings, account, source, known)
        throttling.prune_sometimes(session, settings.login_window_seconds, known_since)
        throttling.admit(session, limits, settings.login_window_seconds)
    return LoginAttempt(account, source, limits)


def login_succeeded(database: Database, attempt: LoginAttempt) -> None:
    with database.transaction() as session:
        throttling.succeeded(
            session,
            pair_key=attempt.limits[0].key,
            counted_keys=[limit.key for limit in attempt.limits[1:]],
            account=attempt.account,
            source=attempt.source,
        )


def login(
    database: Database,
    settings: Settings,
    email: str,
    password: str,
    client_ip: str,
    tenant_id: int | None = None,
) -> tuple[TenantAdmin, str, int, str]:
    attempt = admit_login(database, settings, email, client_ip)
    account = attempt.account
    # The same address may administer several tenants (an address is unique per tenant
    # only): the password tells which account is meant.
    with database.session(write=False) as session:
        query = select(TenantAdmin).where(TenantAdmin.email == account)
        if tenant_id is not None:
            query = query.where(TenantAdmin.tenant_id == tenant_id)
        candidates = list(session.scalars(query.order_by(TenantAdmin.id)))
    if not candidates:
        burn_verification(settings)
    matches = [a for a in candidates if verify_password(a.password_hash, password, settings)]
    if not matches:
        raise Unauthenticated("wrong e-mail address or password", code="invalid_credentials")
    login_succeeded(database, attempt)
    if len(matches) > 1:
        # Only someone who knows the password of several of them gets here.
        raise Conflict(
            "this address administers several tenants with this password; send tenant_id",
            code="tenant_required",
            extra={"tenant_ids": sorted(a.tenant_id for a in matches)},
        )
    admin = matches[0]
    with database.session(write=False) as session:
        tenant = session.get(Tenant, admin.tenant_id)
    if not admin.active or tenant is None or tenant.status != "active":
        raise Unauthenticated("this account or its tenant is suspended", code="account_disabled")
    access, expires_in, refresh = _issue_pair(
        database, settings, admin, family_id=secrets.token_hex(16)
    )
    return admin, access, expires_in, refresh


def refresh(
    database: Database, settings: Settings, token: str
) -> tuple[TenantAdmin, str, int, str]:
    """Rotation with reuse detection (auth/refresh_rotation.py)."""
    now = utcnow()
    with database.transaction() as session:
        claim = refresh_rotation.claim(session, RefreshToken, token, now)
        row = claim.row
        admin = tenant = None
        if claim.claimed and isinstance(row, RefreshToken):
            admin = session.get(TenantAdmin, row.admin_id)
            tenant = session.get(Tenant, admin.tenant_id) if admin is not None else None
        family_id = row.family_id if row is not None else ""
    # Outside the transaction: a reused token's family revocation is committed first.
    if not claim.claimed:
        raise Unauthenticated(INVALID_REFRESH, code="invalid_token")
    if admin is None or not admin.active or tenant is None or tenant.status != "active":
        raise Unauthenticated("this account or its tenant is suspended", code="account_disabled")
    access, expires_in, new_refresh = _issue_pair(database, settings, admin, family_id)
    return admin, access, expires_in, new_refresh


def logout(database: Database, token: str) -> None:
    """Ends the session: every token of the family, not only the one presented."""
    with database.transaction() as session:
        refresh_rotation.revoke_login(session, RefreshToken, token, utcnow())
