"""What happens when deliveries settle: one place, called inside the transaction that
records the outcomes (the worker's batch of outcomes; later also asynchronous bounces and
queue tools), so that suppression, statistics and webhook events see every outcome exactly
once and commit or roll back with it.

Observers only add rows and flush; they never call outside servers (webhooks are delivered
after commit from their own rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailplane.circuit_breaker import service as circuit_breaker
from mailplane.models.statuses import DeliveryStatus
from mailplane.statistics import counters
from mailplane.suppressions import policy as suppressions
from mailplane.webhooks import events as webhook_events


@dataclass(frozen=True)
class Settled:
    """A delivery's new state after an attempt or a report about it."""

    delivery_id: int
    status: DeliveryStatus  # delivered, deferred, bounced, failed, suppressed, ...
    code: int | None
    enhanced_code: str | None
    reply: str
    at: datetime
    # For bounces: "hard" or "soft", and what kind (invalid_address, mailbox_full,
    # policy, content, technical); None where not known.
    bounce_type: str | None = None
    classification: str | None = None
    # What the delivery had already been counted as by the circuit breaker, for a report
    # that changes a final result (an asynchronous bounce after "delivered"):
    # ``delivered``, ``hard``, ``soft`` (circuit_breaker/counters.earlier_of); None: new.
    earlier: str | None = None


def outcomes_recorded(session: Session, settled: Sequence[Settled], now: datetime) -> None:
    """Called once per batch of recorded outcomes, in the same transaction."""
    if not settled:
        return
    webhook_events.outcomes_recorded(session, settled, now)
    suppressions.record_outcomes(session, settled, now)
    counters.record_outcomes(session, settled, now)
    circuit_breaker.outcomes_recorded(session, settled, now)
