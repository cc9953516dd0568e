from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from mailplane.schemas import RequestModel, ResponseModel

Secret = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class LoginRequest(RequestModel):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Secret


class RefreshRequest(RequestModel):
    refresh_token: Secret


class TokenPair(ResponseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105
    expires_in: int
    refresh_token: str
    tenant_id: int


class MeOut(ResponseModel):
    kind: str
    id: int | None
    name: str
    tenant_id: int | None
    scopes: list[str]
