from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from mailplane.api.deps import PrincipalDep, SettingsDep, get_database
from mailplane.api.responses import ERRORS
from mailplane.auth import service
from mailplane.auth.schemas import LoginRequest, MeOut, RefreshRequest, TokenPair
from mailplane.db import Database

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
    """Tenant admin login: a short-lived access token (JWT) and a refresh token."""
    admin, access, expires_in, refresh = service.login(
        database, settings, body.email, body.password, _client_ip(request), body.tenant_id
    )
    return TokenPair(
        access_token=access, expires_in=expires_in, refresh_token=refresh, tenant_id=admin.tenant_id
    )


@router.post("/refresh", response_model=TokenPair)
def refresh(database: DatabaseDep, settings: SettingsDep, body: RefreshRequest) -> TokenPair:
    admin, access, expires_in, new_refresh = service.refresh(database, settings, body.refresh_token)
    return TokenPair(
        access_token=access,
        expires_in=expires_in,
        refresh_token=new_refresh,
        tenant_id=admin.tenant_id,
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(database: DatabaseDep, body: RefreshRequest) -> Response:
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
