"""Request and response bodies of the suppression routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, Strict, StringConstraints

from mailplane.schemas import MAX_ID, NO_CONTROL, NO_CONTROL_NONEMPTY, RequestModel, ResponseModel

Address = Annotated[
    str, StringConstraints(min_length=3, max_length=320, pattern=NO_CONTROL_NONEMPTY)
]
Timestamp = Annotated[datetime, Strict(False)]


class SuppressionCreate(RequestModel):
    address: Address
    tenant_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Operators: the tenant whose list."
    )
    expires_at: Timestamp | None = Field(default=None, description="null: never expires.")
    note: Annotated[str, StringConstraints(max_length=500, pattern=NO_CONTROL)] = ""


class SuppressionImport(RequestModel):
    addresses: list[Annotated[str, StringConstraints(max_length=1000)]] = Field(
        max_length=1_000_000
    )
    tenant_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class SuppressionOut(ResponseModel):
    id: int
    tenant_id: int
    address: str
    reason: str = Field(
        description=(
            "hard_bounce | repeated_soft_bounce | manual | import | unsubscribed | complaint"
        )
    )
    detail: str = Field(description="The remote's reply that caused it, or the note.")
    message_id: str | None = Field(description="The message whose delivery caused it.")
    delivery_id: int | None
    created_at: datetime
    expires_at: datetime | None


class InvalidLine(ResponseModel):
    line: int
    value: str
    error: str


class ImportOut(ResponseModel):
    added: int
    skipped: int = Field(description="Already suppressed, or listed twice.")
    invalid: int
    invalid_lines: list[InvalidLine] = Field(description="The first 100 invalid lines.")
