"""What admission (``delivery/admission.py``) knows about one claimed delivery: enough for
pauses, route choice and throttles to decide without reading the database again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class Candidate:
    delivery_id: int
    tenant_id: int | None
    recipient_domain: str
    message_type: str  # models.statuses.MessageType
    batch_id: str | None
    attempts: int  # attempts before this one: > 0 is a retry
    # The route it had (a retry stays on it); admission sets the one chosen now.
    route_id: int | None
    # The MX host names of the recipient domain, when a destination limit needs them.
    mx_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Wait:
    """A delivery that may not go now: put back, due again ``until``; ``held_by`` says why
    (``limit:<id>``), shown in the queue."""

    until: datetime
    held_by: str
