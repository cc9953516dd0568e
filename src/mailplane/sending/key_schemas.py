"""Request and response bodies of the send API key routes (admin API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, Strict, StringConstraints

from mailplane.models import ApiKey
from mailplane.schemas import NO_CONTROL_NONEMPTY, Name, RequestModel, ResponseModel

Origin = Annotated[
    str, StringConstraints(min_length=1, max_length=300, pattern=NO_CONTROL_NONEMPTY)
]
Recipient = Annotated[
    str, StringConstraints(min_length=3, max_length=320, pattern=NO_CONTROL_NONEMPTY)
]
Address = Annotated[
    str, StringConstraints(min_length=3, max_length=320, pattern=NO_CONTROL_NONEMPTY)
]
KeyName = Annotated[Name, StringConstraints(max_length=100)]
RatePerHour = Annotated[int, Field(ge=1, le=10_000_000)]


# ISO 8601 text in JSON (strict mode would want a datetime object).
Timestamp = Annotated[datetime, Strict(False)]


class ApiKeyCreate(RequestModel):
    name: KeyName
    kind: Literal["server", "form"] = Field(
        default="server",
        description="server: secret, for back ends. form: public, for browser contact forms; "
        "needs allowed_origins and allowed_recipients.",
    )
    allowed_origins: list[Origin] = Field(
        default_factory=list,
        max_length=20,
        description="Form keys: exact origins such as https://www.example.com.",
    )
    allowed_recipients: list[Recipient] = Field(
        default_factory=list,
        max_length=20,
        description="Form keys: the only addresses it may send to.",
    )
    rate_limit_per_hour: RatePerHour | None = Field(
        default=None, description="Recipients per hour through this key; null: the default."
    )
    default_type: Literal["transactional", "bulk"] = "transactional"
    from_address: Address | None = Field(
        default=None,
        description="The From of /api/send/external, an address of the key's domain; "
        "null: noreply@<domain>.",
    )
    expires_at: Timestamp | None = None


class ApiKeyUpdate(RequestModel):
    name: KeyName | None = None
    allowed_origins: list[Origin] | None = Field(default=None, max_length=20)
    allowed_recipients: list[Recipient] | None = Field(default=None, max_length=20)
    rate_limit_per_hour: RatePerHour | None = None
    default_type: Literal["transactional", "bulk"] | None = None
    from_address: Address | None = None
    expires_at: Timestamp | None = None


class ApiKeyOut(ResponseModel):
    id: int
    tenant_id: int
    domain_id: int
    name: str
    kind: str
    key_prefix: str = Field(description="mpk_<public id>: names the key, is not the secret.")
    allowed_origins: list[str]
    allowed_recipients: list[str]
    rate_limit_per_hour: int | None
    default_type: str
    from_address: str | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            tenant_id=key.tenant_id,
            domain_id=key.domain_id,
            name=key.name,
            kind=key.kind,
            key_prefix=f"mpk_{key.public_id}",
            allowed_origins=key.allowed_origins,
            allowed_recipients=key.allowed_recipients,
            rate_limit_per_hour=key.rate_limit_per_hour,
            default_type=key.default_type,
            from_address=key.from_address,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            created_at=key.created_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The whole key. Shown this once; only its hash is kept.")
