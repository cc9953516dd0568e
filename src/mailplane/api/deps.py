"""Request-scoped dependencies: settings, the unit of work and the calling principal.

The request owns the transaction: the session commits after the endpoint returns and
before the response goes out (``scope="function"``), or rolls back on any error.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Header, Request
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailplane.auth import jwt_tokens
from mailplane.auth.mail_tokens import mailbox_may_log_in, mailbox_version
from mailplane.auth.principals import Principal
from mailplane.auth.secrets import digest
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.db.overload import overload_of
from mailplane.errors import Conflict, Forbidden, Unauthenticated
from mailplane.models import Mailbox, ServiceToken, Tenant, TenantAdmin, utcnow

log = logging.getLogger(__name__)

# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_session(request: Request) -> Iterator[Session]:
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    session = get_database(request).session(write=write)
    try:
        yield session
        if write:
            session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "the change conflicts with existing data (a duplicate or a dangling reference)",
            code="integrity_conflict",
        ) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_clock(request: Request) -> Callable[[], datetime]:
    """``app.state.clock`` when set (tests move time with it), else the wall clock."""
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
    return clock


ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]


def get_principal(
    request: Request,
    settings: SettingsDep,
    background: BackgroundTasks,
    x_service_token: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    # Its own short read, not the request's session: on SQLite a writing request takes the
    # write lock with its first statement, and it should not hold it while it authenticates
    # (or while it hashes a password before its first query).
    database = get_database(request)
    if x_service_token:
        with database.session(write=False) as session:
            principal, stale = _service_principal(session, x_service_token)
        if stale and _first_touch(request, principal):
            # After the response: a read must not wait for a write turn to note its use.
            background.add_task(_touch_service_token, database, principal)
        return principal
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use 'Authorization: Bearer <token>'", code="invalid_token")
        with database.session(write=False) as session:
            return _admin_principal(session, settings, token.strip())
    raise Unauthenticated(
        "send an x-service-token header or an Authorization: Bearer token",
        code="missing_credentials",
    )


def _service_principal(session: Session, token: str) -> tuple[Principal, bool]:
    """The token's principal, and whether its last_used_at is due for an update."""
    row = session.scalar(select(ServiceToken).where(ServiceToken.token_hash == digest(token)))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("unknown or revoked service token", code="invalid_token")
    stale = row.last_used_at is None or utcnow() - row.last_used_at > LAST_USED_RESOLUTION
    principal = Principal(
        kind="service_token", id=row.id, name=row.name, tenant_id=None, scopes=row.scope_set
    )
    return principal, stale


def _first_touch(request: Request, principal: Principal) -> bool:
    """Whether this process has not noted the token's use within the resolution yet: a
    burst of 200 requests with one token is one write, not 200."""
    touched: dict[int | None, float] = request.app.state.token_touches
    now = time.monotonic()
    if now - touched.get(principal.id, -1e9) < LAST_USED_RESOLUTION.total_seconds():
        return False
    touched[principal.id] = now
    return True


def _touch_service_token(database: Database, principal: Principal) -> None:
    """Best effort: when the database is too busy, this minute's note is skipped."""
    now = utcnow()
    due = or_(
        ServiceToken.last_used_at.is_(None),
        ServiceToken.last_used_at < now - LAST_USED_RESOLUTION,
    )
    try:
        with database.transaction() as session:
            session.execute(
                update(ServiceToken)
                .where(ServiceToken.id == principal.id, due)
                .values(last_used_at=now)
            )
    except Exception as exc:
        if overload_of(exc) is None:
            raise
        log.info("not recording the use of service token %s now: %s", principal.id, exc)


def _admin_principal(session: Session, settings: Settings, token: str) -> Principal:
    if jwt_tokens.token_type(token) == jwt_tokens.MAILBOX_TYPE:
        raise Forbidden(
            "a mailbox user's token opens the webmail API only, not the admin API",
            code="mailbox_token",
        )
    claims = jwt_tokens.decode_access_token(settings, token)
    admin = session.get(TenantAdmin, claims.admin_id)
    if admin is None or not admin.active or admin.tenant_id != claims.tenant_id:
        raise Unauthenticated("this account no longer exists or is disabled", code="invalid_token")
    tenant = session.get(Tenant, admin.tenant_id)
    if tenant is None or tenant.status != "active":
        raise Unauthenticated("this tenant is suspended", code="tenant_suspended")
    return Principal(
        kind="tenant_admin",
        id=admin.id,
        name=admin.email,
        tenant_id=admin.tenant_id,
        scopes=frozenset({"admin", "read"}),
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def writer(principal: PrincipalDep) -> Principal:
    principal.require_write()
    return principal


WriterDep = Annotated[Principal, Depends(writer)]


@dataclass(frozen=True)
class MailboxUser:
    """A logged-in mailbox user (webmail): everything it reaches is this mailbox's."""

    mailbox_id: int
    tenant_id: int
    email: str


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("send Authorization: Bearer <token>", code="missing_credentials")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("use 'Authorization: Bearer <token>'", code="invalid_token")
    return token.strip()


def mailbox_user_from_token(database: Database, settings: Settings, token: str) -> MailboxUser:
    """The token's mailbox as it is now: suspended, disabled or deleted since the login
    means no access (SPEC: suspend means no login anywhere)."""
    kind = jwt_tokens.token_type(token)
    if kind is not None and kind != jwt_tokens.MAILBOX_TYPE:
        raise Forbidden(
            "the webmail API needs a mailbox user's token (POST /api/v1/auth/login with "
            "the mailbox address and password)",
            code="not_a_mailbox_token",
        )
    claims = jwt_tokens.decode_mailbox_token(settings, token)
    with database.session(write=False) as session:
        mailbox = session.get(Mailbox, claims.mailbox_id)
        if (
            mailbox is None
            or mailbox.tenant_id != claims.tenant_id
            # Another mailbox under a reused id, or a password changed since the login.
            or not hmac.compare_digest(mailbox_version(mailbox), claims.version)
        ):
            raise Unauthenticated(
                "this session has ended (mailbox deleted or password changed): log in again",
                code="invalid_token",
            )
        if not mailbox_may_log_in(session, mailbox):
            raise Unauthenticated(
                "this mailbox, its domain or its tenant is suspended or disabled",
                code="account_disabled",
            )
        return MailboxUser(mailbox.id, mailbox.tenant_id, mailbox.email)


def get_mailbox_user(
    request: Request,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
) -> MailboxUser:
    return mailbox_user_from_token(get_database(request), settings, bearer_token(authorization))


MailboxUserDep = Annotated[MailboxUser, Depends(get_mailbox_user)]
