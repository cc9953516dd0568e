from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

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
    account: Literal["admin", "mailbox"] | None = Field(
        default=None,
        description="Whose password this is: a tenant admin's or a mailbox's. Default: a "
        "tenant admin when one has this address, else the mailbox.",
    )
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
    account: Literal["admin", "mailbox"] = "admin"
    # Mailbox users only: the mailbox the token opens.
    mailbox_id: int | None = None
    email: str | None = None


class MailTokenRequest(RequestModel):
    email: (
        Annotated[str, StringConstraints(min_length=3, max_length=320, pattern=NO_CONTROL_NONEMPTY)]
        | None
    ) = Field(
        default=None,
        description="Another mailbox: an alias address this user receives, or (tenant "
        "admins, operators) a mailbox of the tenant. Default: the caller's own mailbox.",
    )


class MailTokenOut(ResponseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105
    expires_in: int
    email: str


class MailTokenInfo(ResponseModel):
    """A minted mail token, without the token: its id (to revoke it), who asked for it
    (mailbox, tenant_admin, service_token, webmail) and its lifetime."""

    jti: str
    issued_to: str
    created_at: datetime
    expires_at: datetime


class MeOut(ResponseModel):
    kind: str
    id: int | None
    name: str
    tenant_id: int | None
    scopes: list[str]
