"""Request and response bodies of the sending-state routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from mailplane.schemas import NO_CONTROL, RequestModel, ResponseModel

Reason = Annotated[str, StringConstraints(max_length=500, pattern=NO_CONTROL)]


class PauseCreate(RequestModel):
    scope: Literal["bulk", "all"] = Field(
        default="bulk", description="bulk: bulk mail only; all: transactional mail too."
    )
    reason: Reason = ""


class PauseOut(ResponseModel):
    id: int
    tenant_id: int
    scope: str
    trigger: str = Field(description="hard_bounce_rate, complaint_rate or operator.")
    batch_id: str | None
    detail: dict[str, Any]
    created_at: datetime
    created_by: str
    resumed_at: datetime | None
    resumed_by: str | None


class Rate(ResponseModel):
    rate: float = Field(description="Over the window; 0 without deliveries.")
    count: int
    sample: int = Field(description="Settled deliveries (delivered or bounced) in the window.")
    threshold: float
    min_sample: int


class SendingOut(ResponseModel):
    tenant_id: int
    pause: PauseOut | None = Field(description="The active pause; null: sending normally.")
    window_minutes: int
    hard_bounces: Rate
    complaints: Rate
    paused_deliveries: int
