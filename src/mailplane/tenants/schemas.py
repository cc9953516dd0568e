from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from mailplane.models.statuses import Status
from mailplane.schemas import MAX_ID, Name, Password, RequestModel, ResponseModel, Text

Notes = Text
# A count or a number of MB; null (or absent) is unlimited, 0 allows none.
LimitValue = Annotated[int, Field(ge=0, le=MAX_ID)]
# A share of settled deliveries (the circuit breaker's thresholds): over 0, at most 1.
Rate = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


class TenantLimits(RequestModel):
    """Set by platform operators only. In an update, only the fields sent change."""

    max_domains: LimitValue | None = Field(default=None, description="Alias domains included.")
    max_mailboxes: LimitValue | None = None
    max_aliases: LimitValue | None = None
    max_quota_mb_per_mailbox: LimitValue | None = Field(
        default=None, description="Set: every mailbox needs a quota (no 0) of at most this."
    )
    max_total_quota_mb: LimitValue | None = Field(
        default=None, description="Set: the sum of the mailboxes' quotas; no 0 quota either."
    )
    send_rate_per_hour: Annotated[int, Field(ge=1, le=MAX_ID)] | None = Field(
        default=None,
        description="Send API recipients per hour for each of its domains; null: the "
        "platform's default (MAILPLANE_SEND_RATE_PER_HOUR).",
    )
    breaker_min_sample: Annotated[int, Field(ge=1, le=MAX_ID)] | None = Field(
        default=None,
        description="The circuit breaker's minimum sample for this tenant; null: "
        "MAILPLANE_BREAKER_MIN_SAMPLE.",
    )
    breaker_hard_bounce_rate: Rate | None = Field(
        default=None, description="null: MAILPLANE_BREAKER_HARD_BOUNCE_RATE."
    )
    breaker_complaint_rate: Rate | None = Field(
        default=None, description="null: MAILPLANE_BREAKER_COMPLAINT_RATE."
    )


class TenantCreate(RequestModel):
    name: Name
    notes: Notes = ""
    limits: TenantLimits | None = None


class TenantUpdate(RequestModel):
    name: Name | None = Field(default=None, description="Platform operators only.")
    notes: Notes | None = None
    status: Literal["active", "suspended"] | None = Field(
        default=None, description="Platform operators only. Suspended tenants cannot log in."
    )
    limits: TenantLimits | None = Field(default=None, description="Platform operators only.")


class TenantLimitsOut(ResponseModel):
    max_domains: int | None
    max_mailboxes: int | None
    max_aliases: int | None
    max_quota_mb_per_mailbox: int | None
    max_total_quota_mb: int | None
    send_rate_per_hour: int | None
    breaker_min_sample: int | None
    breaker_hard_bounce_rate: float | None
    breaker_complaint_rate: float | None


class TenantOut(ResponseModel):
    id: int
    name: str
    status: Status
    notes: str
    limits: TenantLimitsOut
    created_at: datetime
    updated_at: datetime


class TenantUsageOut(ResponseModel):
    domains: int
    mailboxes: int
    aliases: int
    total_quota_mb: int
    unlimited_quota_mailboxes: int


class TenantUsageReport(ResponseModel):
    limits: TenantLimitsOut
    usage: TenantUsageOut


class TenantAdminCreate(RequestModel):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Password


class TenantAdminOut(ResponseModel):
    id: int
    tenant_id: int
    email: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None
