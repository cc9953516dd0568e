"""Request and response bodies of the throttle routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from mailplane.schemas import MAX_ID, NO_CONTROL, RequestModel, ResponseModel

Scope = Literal["global", "tenant", "destination", "route"]
Per = Literal["minute", "hour", "day"]
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Rate = Annotated[int, Field(ge=1, le=10_000_000)]
Period = Literal[60, 3600, 86400]
Name = Annotated[str, StringConstraints(max_length=100, pattern=NO_CONTROL)]


class ThrottleCreate(RequestModel):
    scope: Scope
    tenant_id: int | None = Field(
        default=None, ge=1, le=MAX_ID,
        description="scope tenant: the tenant; null: the default for every tenant without "
        "a limit of its own for the same period.",
    )  # fmt: skip
    route_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="scope route.")
    name: Name = ""
    domains: list[Pattern] = Field(
        default_factory=list, max_length=1000,
        description="scope destination: recipient domains; `*.example.com` or "
        "`.example.com` for the names below example.com.",
    )  # fmt: skip
    mx_hosts: list[Pattern] = Field(
        default_factory=list, max_length=1000,
        description="scope destination: MX host name patterns (`*.google.com`): every "
        "domain whose MX hosts match shares the budget.",
    )  # fmt: skip
    per_domain: bool = Field(
        default=False, description="scope destination: one budget per recipient domain."
    )
    rate: Rate
    period_seconds: Period | None = Field(default=None, description="60, 3600 or 86400.")
    per: Per | None = Field(default=None, description="Instead of period_seconds.")
    burst: Rate | None = Field(
        default=None,
        description="How many may go at once (1..rate); default about one second's worth: "
        "max(1, ceil(rate / period_seconds)).",
    )


class ThrottleUpdate(RequestModel):
    """The scope and what it targets stay; delete and create to change them."""

    name: Name | None = None
    domains: list[Pattern] | None = Field(default=None, max_length=1000)
    mx_hosts: list[Pattern] | None = Field(default=None, max_length=1000)
    per_domain: bool | None = None
    rate: Rate | None = None
    period_seconds: Period | None = None
    per: Per | None = None
    burst: Rate | None = None


class KeyUsage(ResponseModel):
    key: str = Field(description="A tenant id, or a recipient domain.")
    used: int
    remaining: int


class UsageOut(ResponseModel):
    used: int = Field(
        description="Deliveries counted in the last period (a sliding estimate); for a "
        "limit with one budget per tenant or domain, the busiest key (a tenant admin: its "
        "own)."
    )
    limit: int
    remaining: int
    period_seconds: int
    waiting: int = Field(description="Deliveries queued or deferred, held by this limit.")
    keys: list[KeyUsage] = Field(
        description="Per tenant or per domain budgets: the busiest 50 (a tenant admin: its own)."
    )


class ThrottleOut(ResponseModel):
    id: int
    scope: Scope
    tenant_id: int | None
    route_id: int | None
    name: str
    domains: list[str]
    mx_hosts: list[str]
    per_domain: bool
    rate: int
    period_seconds: int
    burst: int
    created_at: datetime
    updated_at: datetime
    usage: UsageOut
