"""Queue tools: look at mailplane's own delivery queue and act on it (retry, cancel, hold,
release), for the CLI (``mailplane queue``) and the admin API (``/api/v1/queue``) alike.

Every query is scoped by the principal (a tenant admin sees its tenant's deliveries only;
operators see all). Actions are guarded UPDATEs whose WHERE repeats the state they may
change, so a worker that claimed a row first keeps it: rows in ``sending`` are never
touched and are reported as ``skipped_in_flight``. Cancelling marks rows ``cancelled``
(never deletes them: the history, attempts and statistics stay) and is a settlement, so
``delivery.observers.outcomes_recorded`` sees it in the same transaction. Every action is
audited. Services flush; the caller commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select, true, update
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import Principal
from mailplane.db.pagination import Page, decode_cursor, encode_cursor
from mailplane.delivery import observers
from mailplane.errors import InvalidInput, NotFound
from mailplane.models import Delivery, DeliveryAttempt, Domain, OutboundMessage, utcnow
from mailplane.models.statuses import DeliveryStatus

MAX_BULK = 10_000
DEFAULT_BULK = 1_000

_AGE = re.compile(r"^\s*(\d{1,9})\s*([smhdw])\s*$")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_AGE_SECONDS = 100 * 366 * 86400


def parse_age(text: str, what: str = "age") -> timedelta:
    """``90s``, ``30m``, ``2h``, ``3d``, ``1w``."""
    match = _AGE.match(text)
    if match is None:
        raise InvalidInput(
            f"{what} must be a number and a unit (s, m, h, d, w), like 2h", code="invalid_age"
        )
    seconds = int(match.group(1)) * _AGE_UNITS[match.group(2)]
    # Beyond a century "now minus the age" leaves the calendar (an OverflowError, a 500).
    if seconds > MAX_AGE_SECONDS:
        raise InvalidInput(f"{what} may be at most 100 years", code="invalid_age")
    return timedelta(seconds=seconds)


class Action(StrEnum):
    RETRY = "retry"  # queued/deferred: due now
    FLUSH = "flush"  # retry, deferred ones only
    CANCEL = "cancel"  # queued/deferred/held: cancelled (final)
    HOLD = "hold"  # queued/deferred: held (not due, not final)
    RELEASE = "release"  # held: queued, due now


_Q, _D, _H = DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value, DeliveryStatus.HELD.value
_P = DeliveryStatus.PAUSED.value
IN_QUEUE = (_Q, DeliveryStatus.SENDING.value, _D, _H, _P)
# The states each action may change; anything else matched is skipped.
APPLIES_TO: dict[Action, tuple[str, ...]] = {
    Action.RETRY: (_Q, _D),
    Action.FLUSH: (_D,),
    Action.CANCEL: (_Q, _D, _H, _P),
    Action.HOLD: (_Q, _D),
    Action.RELEASE: (_H,),
}


@dataclass(frozen=True)
class Selection:
    """Which deliveries; every given criterion must hold. ``tenant_id`` narrows an
    operator's view; a tenant admin is confined to its own tenant whatever it says."""

    ids: tuple[int, ...] = ()
    message_id: str | None = None
    recipient: str | None = None  # an address (exact) or "@domain" (its domain part)
    recipient_domain: str | None = None
    tenant_id: int | None = None
    sending_domain: str | None = None
    statuses: tuple[str, ...] = ()
    older_than: timedelta | None = None
    newer_than: timedelta | None = None

    def is_empty(self) -> bool:
        return not (
            self.ids
            or self.message_id
            or self.recipient
            or self.recipient_domain
            or self.tenant_id is not None
            or self.sending_domain
            or self.statuses
            or self.older_than is not None
            or self.newer_than is not None
        )

    def describe(self) -> dict[str, Any]:
        """For the audit trail."""
        found: dict[str, Any] = {}
        for name in (
            "message_id",
            "recipient",
            "recipient_domain",
            "tenant_id",
            "sending_domain",
        ):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        if self.ids:
            found["ids"] = list(self.ids[:100])
        if self.statuses:
            found["statuses"] = list(self.statuses)
        if self.older_than is not None:
            found["older_than_seconds"] = int(self.older_than.total_seconds())
        if self.newer_than is not None:
            found["newer_than_seconds"] = int(self.newer_than.total_seconds())
        return found


def _where(principal: Principal, selection: Selection, now: datetime) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [principal.tenant_filter(Delivery.tenant_id)]
    if selection.ids:
        clauses.append(Delivery.id.in_(selection.ids))
    if selection.message_id:
        clauses.append(Delivery.message_id == selection.message_id)
    if selection.recipient:
        recipient = selection.recipient.strip().lower()
        if recipient.startswith("@"):
            clauses.append(Delivery.recipient_domain == recipient[1:])
        else:
            clauses.append(func.lower(Delivery.recipient) == recipient)
    if selection.recipient_domain:
        clauses.append(Delivery.recipient_domain == selection.recipient_domain.strip().lower())
    if selection.tenant_id is not None:
        clauses.append(Delivery.tenant_id == selection.tenant_id)
    if selection.sending_domain:
        sent_from = (
            select(OutboundMessage.id)
            .join(Domain, Domain.id == OutboundMessage.domain_id)
            .where(Domain.name == selection.sending_domain.strip().lower().rstrip("."))
        )
        clauses.append(Delivery.message_id.in_(sent_from))
    if selection.statuses:
        clauses.append(Delivery.status.in_(selection.statuses))
    if selection.older_than is not None:
        clauses.append(Delivery.created_at <= now - selection.older_than)
    if selection.newer_than is not None:
        clauses.append(Delivery.created_at >= now - selection.newer_than)
    return and_(true(), *clauses)


@dataclass(frozen=True)
class QueueRow:
    delivery: Delivery
    message: OutboundMessage


def _rows_query(
    principal: Principal, selection: Selection, *, now: datetime
) -> Select[Delivery, OutboundMessage]:
    return (
        select(Delivery, OutboundMessage)
        .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
        .where(_where(principal, selection, now))
    )


def list_queue(
    session: Session,
    principal: Principal,
    selection: Selection,
    now: datetime,
    *,
    limit: int,
    cursor: str | None,
    undelivered_only: bool = True,
) -> Page[QueueRow]:
    """Deliveries in id order (oldest first). Without a status filter only what is still
    in the queue (queued, sending, deferred, held) is listed."""
    if undelivered_only and not selection.statuses:
        selection = replace(selection, statuses=IN_QUEUE)
    # Keyset on the id (db/pagination.py's cursors): the last page costs what the first does.
    query = select(Delivery.id).where(_where(principal, selection, now))
    if cursor:
        query = query.where(Delivery.id > decode_cursor(cursor))
    ids = list(session.scalars(query.order_by(Delivery.id).limit(limit + 1)))
    next_cursor = encode_cursor(ids[limit - 1]) if len(ids) > limit else None
    ids = ids[:limit]
    rows = {
        d.id: QueueRow(d, m)
        for d, m in session.execute(
            select(Delivery, OutboundMessage)
            .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
            .where(Delivery.id.in_(ids))
        )
    }
    return Page(items=[rows[i] for i in ids if i in rows], next_cursor=next_cursor)


@dataclass(frozen=True)
class Shown:
    delivery: Delivery
    message: OutboundMessage
    attempts: list[DeliveryAttempt]


def show(session: Session, principal: Principal, delivery_id: int) -> Shown:
    found = session.execute(
        _rows_query(principal, Selection(ids=(delivery_id,)), now=utcnow())
    ).first()
    if found is None:
        raise NotFound("delivery not found", code="delivery_not_found")
    delivery, message = found
    attempts = list(
        session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.id)
        )
    )
    return Shown(delivery, message, attempts)


@dataclass
class Result:
    action: Action
    matched: int = 0
    changed: int = 0
    skipped_in_flight: int = 0
    skipped_other: int = 0  # final already, or not in a state the action applies to
    changed_ids: list[int] = field(default_factory=list)
    in_flight_ids: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "matched": self.matched,
            "changed": self.changed,
            "skipped_in_flight": self.skipped_in_flight,
            "skipped_other": self.skipped_other,
        }


def apply(
    session: Session,
    principal: Principal,
    action: Action,
    selection: Selection,
    now: datetime,
    *,
    limit: int = DEFAULT_BULK,
    all_matching: bool = False,
) -> Result:
    """Act on at most ``limit`` matching deliveries (oldest first). An empty selection
    means everything the principal may see, and needs ``all_matching`` (flush excepted:
    it is "retry every deferred delivery" by definition)."""
    if selection.is_empty() and not all_matching and action is not Action.FLUSH:
        raise InvalidInput(
            "name the deliveries (ids or filters) or ask for all matching ones explicitly",
            code="selection_required",
        )
    if not 1 <= limit <= MAX_BULK:
        raise InvalidInput(f"limit must be between 1 and {MAX_BULK}", code="invalid_limit")
    if not selection.statuses and not selection.ids:
        # Filters without a status: what is in the queue (flush: what is deferred), not the
        # history of delivered and bounced mail. Ids named one by one are all reported.
        statuses = (_D,) if action is Action.FLUSH else IN_QUEUE
        selection = replace(selection, statuses=statuses)
    matched = list(
        session.execute(
            select(Delivery.id, Delivery.status)
            .where(_where(principal, selection, now))
            .order_by(Delivery.id)
            .limit(limit)
        )
    )
    result = Result(action=action, matched=len(matched))
    applicable = APPLIES_TO[action]
    candidates = [i for i, status in matched if status in applicable]
    if candidates:
        values: dict[str, Any] = {"updated_at": now}
        if action in (Action.RETRY, Action.FLUSH, Action.RELEASE):
            values["next_attempt_at"] = now
            if action is Action.RELEASE:
                values["status"] = _Q
        elif action is Action.HOLD:
            values.update(status=_H, next_attempt_at=None)
        else:
            values.update(
                status=DeliveryStatus.CANCELLED.value,
                next_attempt_at=None,
                claimed_by=None,
                finished_at=now,
            )
        # The WHERE repeats the states: a row a worker claimed since it was read stays its.
        statement = (
            update(Delivery)
            .where(Delivery.id.in_(candidates), Delivery.status.in_(applicable))
            .values(**values)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
        result.changed_ids = sorted(session.scalars(statement))
    result.changed = len(result.changed_ids)
    changed = set(result.changed_ids)
    unchanged = [i for i, _ in matched if i not in changed]
    if unchanged:
        result.in_flight_ids = sorted(
            session.scalars(
                select(Delivery.id).where(
                    Delivery.id.in_(unchanged),
                    Delivery.status == DeliveryStatus.SENDING.value,
                )
            )
        )
    result.skipped_in_flight = len(result.in_flight_ids)
    result.skipped_other = len(unchanged) - result.skipped_in_flight
    if action is Action.CANCEL and result.changed_ids:
        reply = f"cancelled by {principal.kind} {principal.name}"
        observers.outcomes_recorded(
            session,
            [
                observers.Settled(
                    delivery_id=i,
                    status=DeliveryStatus.CANCELLED,
                    code=None,
                    enhanced_code=None,
                    reply=reply,
                    at=now,
                )
                for i in result.changed_ids
            ],
            now,
        )
    record(
        session,
        principal,
        f"queue.{action.value}",
        object_type="delivery",
        object_id=result.changed_ids[0] if len(result.changed_ids) == 1 else None,
        tenant_id=principal.tenant_id if principal.tenant_id is not None else selection.tenant_id,
        details={
            "selection": selection.describe(),
            "all_matching": all_matching,
            "limit": limit,
            **result.counts(),
            "changed_ids": result.changed_ids[:100],
        },
        at=now,
    )
    session.flush()
    return result
