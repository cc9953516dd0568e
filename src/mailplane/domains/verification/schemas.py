from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from mailplane.models.statuses import VerificationStatus
from mailplane.schemas import ResponseModel


class CheckOut(ResponseModel):
    check: str = Field(
        description="mx, spf, dkim, dmarc, autoconfig, autodiscover, srv, or ownership (of the "
        "domain or an alias domain, until proven; details.kind and details.id name it)"
    )
    record: str = Field(description="Record type and name, e.g. 'TXT example.com'")
    expected: str
    found: str | None
    status: Literal["ok", "warning", "error"]
    hint: str = Field(description="How to fix it; empty when there is nothing to do")
    decisive: bool = Field(description="Whether this check decides if the domain may send")
    temporary: bool = Field(description="A DNS failure on the way, not a verdict on the records")
    details: dict[str, Any]


class VerificationOut(ResponseModel):
    domain_id: int
    domain: str
    outcome: Literal["ok", "broken", "inconclusive"] | None = Field(
        description="ok: verified records; broken: a decisive check failed; inconclusive: DNS "
        "could not be asked (the state did not change); null: never checked"
    )
    verification_status: VerificationStatus
    last_checked_at: datetime | None
    failing_since: datetime | None
    verified_at: datetime | None
    can_send: bool
    checks: list[CheckOut]
