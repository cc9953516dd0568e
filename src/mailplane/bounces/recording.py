"""Recording a bounce against the delivery its VERP address names. The caller (the
bounce receiver) owns the transaction: one per bounce, answered 250 after the commit."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy.orm import Session

from mailplane.bounces.parsing import Bounce, Failure
from mailplane.circuit_breaker.counters import earlier_of
from mailplane.delivery import observers
from mailplane.delivery.outcomes import Kind
from mailplane.models import Delivery, DeliveryAttempt
from mailplane.models.statuses import DeliveryStatus

log = logging.getLogger(__name__)

_CODE = re.compile(r"^\s*([245]\d\d)\b")


def _failure_for(delivery: Delivery, bounce: Bounce) -> Failure | None:
    """The line about this delivery's recipient; a bounce that names another address
    (an alias expanded at the destination) still concerns the VERP's delivery."""
    for failure in bounce.failures:
        if failure.recipient == delivery.recipient.lower():
            return failure
    return bounce.failures[0] if bounce.failures else None


def record(session: Session, delivery_id: int, bounce: Bounce, now: datetime) -> str:
    """What was done, for the log: ``bounced``, ``delayed`` or ``ignored``."""
    if bounce.auto_reply:
        log.info("auto-reply to the return path of delivery %s ignored", delivery_id)
        return "ignored"
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None:
        log.info("bounce for delivery %s, which no longer exists, ignored", delivery_id)
        return "ignored"
    failure = _failure_for(delivery, bounce)
    if failure is None:
        # A reply by a person, or a notice nobody can read: not evidence of a failure.
        log.info("message to the return path of delivery %s is no bounce; ignored", delivery_id)
        return "ignored"
    if (
        not failure.delayed
        and delivery.status == DeliveryStatus.BOUNCED
        and delivery.last_reply == failure.reply
    ):
        # The same report again (Postfix repeats a handover whose 250 it did not see).
        return "ignored"
    match = _CODE.match(failure.reply)
    hard = failure.classification.bounce_type == "hard"
    code = int(match.group(1)) if match else (550 if hard else 450)
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            started_at=now,
            duration_ms=0,
            outcome=Kind.DEFERRED.value if failure.delayed else Kind.BOUNCED.value,
            remote_host=failure.remote_mta,
            code=code,
            enhanced_code=failure.status,
            reply=failure.reply,
        )
    )
    if failure.delayed:
        # Only a report that the remote is still trying: the status stays.
        session.flush()
        return "delayed"
    earlier = earlier_of(delivery.status, delivery.bounce_type, delivery.bounce_classification)
    # A later report wins over an earlier "delivered": the remote accepted the message,
    # then could not deliver it (RFC 3464 section 1).
    delivery.status = DeliveryStatus.BOUNCED
    delivery.next_attempt_at = None
    delivery.claimed_by = None
    delivery.last_code = code
    delivery.last_enhanced_code = failure.status
    delivery.last_reply = failure.reply
    delivery.last_remote = failure.remote_mta
    delivery.bounce_type = failure.classification.bounce_type
    delivery.bounce_classification = failure.classification.kind
    delivery.finished_at = delivery.finished_at or now
    delivery.updated_at = now
    session.flush()
    observers.outcomes_recorded(
        session,
        [
            observers.Settled(
                delivery_id=delivery.id,
                status=DeliveryStatus.BOUNCED,
                code=code,
                enhanced_code=failure.status,
                reply=failure.reply,
                at=now,
                bounce_type=failure.classification.bounce_type,
                classification=failure.classification.kind,
                earlier=earlier,
            )
        ],
        now,
    )
    return "bounced"
