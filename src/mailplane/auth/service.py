"""Tenant admin sessions: login with throttling, refresh-token rotation, logout.

Each step runs its own short transactions (not the request's), because a failed login
must still be counted although the request ends in an error.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from mailplane.auth import jwt_tokens, throttling
from mailplane.auth.passwords import burn_verification, verify_password
from mailplane.auth.secrets import REFRESH_TOKEN_PREFIX, digest, new_secret
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.errors import InvalidInput, Unauthenticated
from mailplane.models import RefreshToken, Tenant, TenantAdmin, utcnow
from mailplane.names import normalize_address


def _issue_pair(database: Database, settings: Settings, admin: TenantAdmin) -> tuple[str, int, str]:
    access, expires_in = jwt_tokens.issue_access_token(
        settings, admin_id=admin.id, tenant_id=admin.tenant_id, email=admin.email
    )
    refresh = new_secret(REFRESH_TOKEN_PREFIX)
    with database.transaction() as session:
        session.add(
            RefreshToken(
                admin_id=admin.id,
                token_hash=digest(refresh),
                expires_at=utcnow() + timedelta(days=settings.refresh_token_days),
            )
        )
        stored = session.get(TenantAdmin, admin.id)
        if stored is not None:
            stored.last_login_at = utcnow()
    return access, expires_in, refresh


def _account_key(email: str) -> str:
    """The address as tenant admins are stored (IDN domain as A-label), so that a login with
    the Unicode form finds the account and counts against the same throttle."""
    try:
        return normalize_address(email, "email")
    except InvalidInput:
        return email.strip().lower()


def login(
    database: Database, settings: Settings, email: str, password: str, client_ip: str
) -> tuple[TenantAdmin, str, int, str]:
    email = _account_key(email)
    window = settings.login_window_seconds
    keys = [
        (f"login:ip:{client_ip}", settings.login_max_failures_per_ip),
        (f"login:account:{email}", settings.login_max_failures_per_account),
    ]
    with database.transaction() as session:
        throttling.check(session, keys, window)
        admin = session.scalar(select(TenantAdmin).where(TenantAdmin.email == email))
        tenant = session.get(Tenant, admin.tenant_id) if admin is not None else None
    if admin is None:
        burn_verification(settings)
        ok = False
    else:
        ok = verify_password(admin.password_hash, password, settings)
    if not ok or admin is None:
        with database.transaction() as session:
            throttling.record_failure(session, [key for key, _ in keys], window)
        raise Unauthenticated("wrong e-mail address or password", code="invalid_credentials")
    if not admin.active or tenant is None or tenant.status != "active":
        raise Unauthenticated("this account or its tenant is suspended", code="account_disabled")
    with database.transaction() as session:
        throttling.clear(session, [f"login:account:{email}"])
    access, expires_in, refresh = _issue_pair(database, settings, admin)
    return admin, access, expires_in, refresh


def refresh(
    database: Database, settings: Settings, token: str
) -> tuple[TenantAdmin, str, int, str]:
    """Rotation: each refresh token works once; the answer carries its successor."""
    with database.transaction() as session:
        row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(token)))
        if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
            raise Unauthenticated(
                "the refresh token is unknown, used or expired", code="invalid_token"
            )
        row.revoked_at = utcnow()
        admin = session.get(TenantAdmin, row.admin_id)
        tenant = session.get(Tenant, admin.tenant_id) if admin is not None else None
    if admin is None or not admin.active or tenant is None or tenant.status != "active":
        raise Unauthenticated("this account or its tenant is suspended", code="account_disabled")
    access, expires_in, new_refresh = _issue_pair(database, settings, admin)
    return admin, access, expires_in, new_refresh


def logout(database: Database, token: str) -> None:
    with database.transaction() as session:
        row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(token)))
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
