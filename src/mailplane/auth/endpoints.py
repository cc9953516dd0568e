from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs, unquote

import anyio.to_thread
from fastapi import APIRouter, BackgroundTasks, Depends, Header, Path, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.api.deps import (
    MailboxUserDep,
    PrincipalDep,
    SettingsDep,
    bearer_token,
    get_database,
    get_principal,
    mailbox_user_from_token,
)
from mailplane.api.responses import ERRORS
from mailplane.audit import service as audit
from mailplane.auth import jwt_tokens, mail_token_access, mail_tokens, mailbox_sessions, service
from mailplane.auth.schemas import (
    LoginRequest,
    MailTokenInfo,
    MailTokenOut,
    MailTokenRequest,
    MeOut,
    RefreshRequest,
    TokenPair,
)
from mailplane.auth.secrets import digest
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from mailplane.models import AuditEvent, Mailbox, ServiceToken, TenantAdmin, utcnow

MAX_FORM_BYTES = 16 * 1024

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=ERRORS)
DatabaseDep = Annotated[Database, Depends(get_database)]


def _client_ip(request: Request) -> str:
    """The peer's address; uvicorn replaces it with X-Forwarded-For only when the peer is
    one of MAILPLANE_TRUSTED_PROXIES (cli/main.py serve)."""
    return request.client.host if request.client else "unknown"


@router.post("/login", response_model=TokenPair)
def login(
    request: Request, database: DatabaseDep, settings: SettingsDep, body: LoginRequest
) -> TokenPair:
    """A short-lived access token (JWT) and a refresh token, for a tenant admin or (with the
    mailbox's address and password) a mailbox user, whose token opens the webmail API."""
    account = body.account or _account_kind(database, body.email)
    if account == "mailbox":
        mailbox = mailbox_sessions.login(
            database, settings, body.email, body.password, _client_ip(request)
        )
        return _mailbox_pair(mailbox)
    admin, access, expires_in, refresh = service.login(
        database, settings, body.email, body.password, _client_ip(request), body.tenant_id
    )
    return TokenPair(
        access_token=access, expires_in=expires_in, refresh_token=refresh, tenant_id=admin.tenant_id
    )


def _account_kind(database: Database, email: str) -> str:
    """A tenant admin when one has this address, else a mailbox (send ``account`` when an
    address is both)."""
    with database.session(write=False) as session:
        admin = session.scalar(
            select(TenantAdmin.id).where(TenantAdmin.email == service.account_key(email)).limit(1)
        )
    return "admin" if admin is not None else "mailbox"


def _mailbox_pair(mailbox: mailbox_sessions.MailboxSession) -> TokenPair:
    return TokenPair(
        access_token=mailbox.access_token,
        expires_in=mailbox.expires_in,
        refresh_token=mailbox.refresh_token,
        tenant_id=mailbox.tenant_id,
        account="mailbox",
        mailbox_id=mailbox.mailbox_id,
        email=mailbox.email,
    )


@router.post("/refresh", response_model=TokenPair)
def refresh(database: DatabaseDep, settings: SettingsDep, body: RefreshRequest) -> TokenPair:
    if mailbox_sessions.is_mailbox_refresh_token(body.refresh_token):
        return _mailbox_pair(mailbox_sessions.refresh(database, settings, body.refresh_token))
    admin, access, expires_in, new_refresh = service.refresh(database, settings, body.refresh_token)
    return TokenPair(
        access_token=access,
        expires_in=expires_in,
        refresh_token=new_refresh,
        tenant_id=admin.tenant_id,
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(database: DatabaseDep, body: RefreshRequest) -> Response:
    if mailbox_sessions.is_mailbox_refresh_token(body.refresh_token):
        mailbox_sessions.logout(database, body.refresh_token)
    else:
        service.logout(database, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=MeOut)
def me(principal: PrincipalDep) -> MeOut:
    return MeOut(
        kind=principal.kind,
        id=principal.id,
        name=principal.name,
        tenant_id=principal.tenant_id,
        scopes=sorted(principal.scopes),
    )


# No body: the caller's own mailbox (an object schema, not "object or null", so that the
# body walks in tests/api can vary its fields).
NO_BODY = MailTokenRequest()


@router.post("/mail-token", response_model=MailTokenOut)
def mail_token(
    request: Request,
    settings: SettingsDep,
    background: BackgroundTasks,
    body: MailTokenRequest = NO_BODY,
    x_service_token: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> MailTokenOut:
    """A ``mail_access`` JWT (60 minutes) for IMAP and SMTP: XOAUTH2 or OAUTHBEARER with the
    mailbox's address as the user name. Mailbox users get one for their own mailbox (or an
    alias address that delivers to it); tenant admins and operators name a mailbox."""
    database = get_database(request)
    email = body.email
    now = utcnow()
    token = authorization.partition(" ")[2].strip() if authorization else ""
    if not x_service_token and jwt_tokens.token_type(token) == jwt_tokens.MAILBOX_TYPE:
        user = mailbox_user_from_token(database, settings, bearer_token(authorization))
        with database.transaction() as session:
            own = session.get(Mailbox, user.mailbox_id)
            if own is None:
                raise Unauthenticated("this mailbox no longer exists", code="invalid_token")
            target = mail_token_access.for_mailbox_user(session, own, email)
            minted = mail_tokens.mint(session, settings, target, "mailbox", now)
    else:
        principal = get_principal(request, settings, background, x_service_token, authorization)
        principal.require_write()
        with database.transaction() as session:
            target = mail_token_access.for_principal(session, principal, email)
            if not mail_tokens.mailbox_may_log_in(session, target):
                raise Conflict(
                    "this mailbox, its domain or its tenant is suspended or disabled",
                    code="mailbox_suspended",
                )
            minted = mail_tokens.mint(session, settings, target, principal.kind, now)
            # Another's mailbox: who may read it now is worth a line in the audit log
            # (the token's id and expiry, never the token).
            audit.record(
                session,
                principal,
                "mailbox.mail_token",
                object_type="mailbox",
                object_id=target.id,
                tenant_id=target.tenant_id,
                details={
                    "email": target.email,
                    "jti": minted.jti,
                    "expires_at": minted.expires_at.isoformat(),
                },
            )
    return MailTokenOut(
        access_token=minted.access_token, expires_in=minted.expires_in, email=minted.email
    )


# Introspection runs on its own threads and connections, outside admission (app.py): the
# webmail's own IMAP logins wait on it while they hold an admitted slot, so it must never
# queue behind them.
INTROSPECTION_THREADS = anyio.CapacityLimiter(4)


async def _form(request: Request) -> dict[str, str]:
    """RFC 7662 and 7009 send application/x-www-form-urlencoded; JSON is accepted too."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise InvalidInput("the request is too large", code="payload_too_large")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise InvalidInput("the body is not JSON", code="invalid_json") from None
        if not isinstance(data, dict):
            raise InvalidInput("the body must be a JSON object", code="invalid_json")
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def _is_dovecot(request: Request, settings: Settings) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return False
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return mail_tokens.client_is_dovecot(settings, unquote(user), unquote(password))


def _client_authenticated(request: Request, settings: Settings) -> str:
    """The client: Dovecot (HTTP Basic with its derived credentials) or an operator's
    service token. Anything else is 401 invalid_client (RFC 6749 section 5.2)."""
    if _is_dovecot(request, settings):
        return "dovecot"
    service_token = request.headers.get("x-service-token")
    if service_token:
        with get_database(request).session(write=False) as session:
            exists = session.scalar(
                select(ServiceToken.id).where(
                    ServiceToken.token_hash == digest(service_token),
                    ServiceToken.revoked_at.is_(None),
                )
            )
        if exists is not None:
            return "service_token"
    raise Unauthenticated(
        "client authentication failed: Basic credentials of the introspection client or an "
        "x-service-token",
        code="invalid_client",
    )


@router.post("/token/introspect")
async def introspect(request: Request, settings: SettingsDep) -> JSONResponse:
    """RFC 7662 for Dovecot's oauth2 passdb: active only for an unexpired, unrevoked mail
    token of a mailbox that may log in now."""
    # Dovecot's Basic credentials are checked here, without a thread: a flood of
    # unauthenticated calls must not take the four threads that Dovecot's logins wait on.
    dovecot = _is_dovecot(request, settings)
    if not dovecot and not request.headers.get("x-service-token"):
        _client_authenticated(request, settings)  # raises invalid_client
    form = await _form(request)

    def run() -> dict[str, Any]:
        if not dovecot:
            _client_authenticated(request, settings)
        token = form.get("token", "")
        if not token:
            raise InvalidInput("the token parameter is missing", code="invalid_request")
        with get_database(request).session(write=False) as session:
            return mail_tokens.introspect(session, settings, token, utcnow())

    answer = await anyio.to_thread.run_sync(run, limiter=INTROSPECTION_THREADS)
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


@router.post("/token/revoke")
async def revoke(request: Request, settings: SettingsDep) -> Response:
    """RFC 7009: revokes a mail token. Whoever holds a token may revoke it (possession is
    the proof, as for a public client); the introspection client and operators may
    authenticate too. 200 also for unknown tokens (section 2.2)."""
    form = await _form(request)

    def run() -> None:
        client = _optional_client(request, settings)
        token = form.get("token", "")
        if not token:
            raise InvalidInput("the token parameter is missing", code="invalid_request")
        with get_database(request).transaction() as session:
            revoked = mail_tokens.revoke(session, settings, token, utcnow())
            if revoked is not None:
                _audit_revocation(session, revoked, client)

    # An ordinary admitted write on the common threads: anyone holding a token may call
    # this, so it must not take the threads that Dovecot's logins wait on.
    await anyio.to_thread.run_sync(run)
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


@dataclass(frozen=True)
class _Actor:
    kind: str
    id: int | None
    name: str


def _optional_client(request: Request, settings: Settings) -> _Actor | None:
    """Who revokes, when it says: Dovecot or an operator's service token."""
    if _is_dovecot(request, settings):
        return _Actor("dovecot", None, mail_tokens.DOVECOT_CLIENT_ID)
    secret = request.headers.get("x-service-token")
    if not secret:
        return None
    with get_database(request).session(write=False) as session:
        row = session.scalar(
            select(ServiceToken).where(
                ServiceToken.token_hash == digest(secret), ServiceToken.revoked_at.is_(None)
            )
        )
        return _Actor("service_token", row.id, row.name) if row is not None else None


def _audit_revocation(
    session: Session, revoked: mail_tokens.Revoked, client: _Actor | None
) -> None:
    """Without a client, the actor is the token's holder, acting for its mailbox."""
    actor = client or _Actor("mailbox", revoked.mailbox_id, revoked.email)
    session.add(
        AuditEvent(
            actor_type=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            tenant_id=revoked.tenant_id,
            action="mailbox.mail_token_revoke",
            object_type="mailbox",
            object_id=revoked.mailbox_id,
            details={"email": revoked.email, "jti": revoked.jti},
        )
    )


@router.get("/mail-tokens", response_model=list[MailTokenInfo])
def list_mail_tokens(request: Request, user: MailboxUserDep) -> list[MailTokenInfo]:
    """The mailbox user's unexpired, unrevoked mail tokens (never the tokens themselves)."""
    with get_database(request).session(write=False) as session:
        rows = mail_tokens.active_tokens(session, user.mailbox_id, utcnow())
        return [
            MailTokenInfo(
                jti=row.jti,
                issued_to=row.issued_to,
                created_at=row.created_at,
                expires_at=row.expires_at,
            )
            for row in rows
        ]


@router.delete(
    "/mail-tokens/{jti}",
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_mail_token(
    request: Request,
    user: MailboxUserDep,
    jti: Annotated[str, Path(min_length=1, max_length=32, pattern="^[0-9a-f]+$")],
) -> Response:
    """Revokes one of the user's own mail tokens; another mailbox's jti is 404."""
    with get_database(request).transaction() as session:
        revoked = mail_tokens.revoke_jti(session, jti, utcnow(), mailbox_id=user.mailbox_id)
        if revoked is None:
            raise NotFound("no active mail token of yours has this id")
        _audit_revocation(session, revoked, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
