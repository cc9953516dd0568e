from __future__ import annotations

from datetime import datetime

from pydantic import Field

from mailplane.schemas import ResponseModel


class ContactOut(ResponseModel):
    id: int
    address: str
    name: str
    sent_count: int
    received_count: int
    last_used_at: datetime
    score: float = Field(description="(2 x sent + received), halved every 30 days unused.")


class ContactList(ResponseModel):
    items: list[ContactOut]
