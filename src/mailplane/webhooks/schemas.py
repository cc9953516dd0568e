"""Request and response bodies of the webhook routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from mailplane.models import WebhookDelivery, WebhookEndpoint
from mailplane.schemas import ObjectId, RequestModel, ResponseModel

Url = Annotated[str, StringConstraints(min_length=8, max_length=2000)]
EventType = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z_]+(\.[a-z_]+)+$")
]
Description = Annotated[
    str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$")
]


class WebhookCreate(RequestModel):
    url: Url = Field(description="https://...; http only to loopback in development/test.")
    event_types: list[EventType] = Field(
        default_factory=list,
        max_length=50,
        description="Event types to send (message.delivered, ...); empty: all.",
    )
    description: Description = ""
    customer_id: ObjectId | None = Field(
        default=None, description="Operators: the tenant; tenant admins: their own."
    )


class WebhookUpdate(RequestModel):
    url: Url | None = None
    event_types: list[EventType] | None = Field(default=None, max_length=50)
    description: Description | None = None


class WebhookOut(ResponseModel):
    id: int
    customer_id: int
    url: str
    event_types: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: WebhookEndpoint) -> WebhookOut:
        return cls(
            id=row.id,
            customer_id=row.tenant_id,
            url=row.url,
            event_types=list(row.event_types),
            description=row.description,
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            disabled_at=row.disabled_at,
            failing_since=row.failing_since,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_...: shown this once; store it now.")


class WebhookSecret(ResponseModel):
    secret: str = Field(description="The new whsec_... secret, shown this once.")


class WebhookDeliveryOut(ResponseModel):
    id: int
    webhook_id: int
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: WebhookDelivery) -> WebhookDeliveryOut:
        return cls(
            id=row.id,
            webhook_id=row.endpoint_id,
            event_id=row.event_id,
            event_type=row.event_type,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
            payload=row.payload,
        )
