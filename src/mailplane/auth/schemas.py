from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from mailplane.schemas import NO_CONTROL_NONEMPTY, ObjectId, RequestModel, ResponseModel

# Control characters never belong in an address, a password or a token; refusing them here
# also keeps NUL away from PostgreSQL, which rejects it in text parameters.
Secret = Annotated[
    str, StringConstraints(min_length=1, max_length=1024, pattern=NO_CONTROL_NONEMPTY)
]


class LoginRequest(RequestModel):
    email: Annotated[
        str, StringConstraints(min_length=3, max_length=320, pattern=NO_CONTROL_NONEMPTY)
    ]
    password: Secret
    tenant_id: ObjectId | None = Field(
        default=None,
        description="Only needed when the address administers several tenants with the same "
        "password (the answer is then 409 tenant_required).",
    )


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
