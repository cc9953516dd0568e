"""Admission against the limits (stub: everything is admitted; see the throttling part)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from mailplane.delivery.candidates import Candidate, Wait
from mailplane.throttling.rules import LimitRule


def admit(
    session: Session, candidates: Sequence[Candidate], limits: Sequence[LimitRule], now: datetime
) -> dict[int, Wait]:
    """The deliveries that must wait (by delivery id); the others have been counted."""
    return {}
