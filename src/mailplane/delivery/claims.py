"""The queue as the workers see it: claim due deliveries, renew leases, commit outcomes.

Claiming is one statement: an UPDATE of the due rows' ids (``next_attempt_at <= now``, in
that order) to ``sending``, stamped with the worker's id and the end of its lease, which
RETURNs what was claimed. On PostgreSQL the inner SELECT takes ``FOR UPDATE SKIP LOCKED``,
so concurrent workers on any number of machines each get different rows without waiting
for each other; SQLite has one writer at a time (``BEGIN IMMEDIATE``, see db/), which makes
the same statement atomic. A worker that dies leaves its rows in ``sending`` until their
lease ends; they are then due again and another worker claims them.

Outcomes are written in batches: one transaction per batch, one executemany UPDATE of
the deliveries and one INSERT of the attempts.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from mailplane.delivery import observers
from mailplane.delivery.classification import classify
from mailplane.domains.verification.state import can_send
from mailplane.models import AliasDomain, DkimKey, Domain, Job, OutboundMessage
from mailplane.models.sending import Delivery, DeliveryAttempt
from mailplane.models.statuses import DeliveryStatus, DkimKeyStatus
from mailplane.suppressions import recording as suppressions
from mailplane.unsubscribe import lists

# Core tables: bulk statements (executemany, RETURNING) without ORM bookkeeping.
deliveries = cast(Table, Delivery.__table__)
attempts_table = cast(Table, DeliveryAttempt.__table__)
jobs = cast(Table, Job.__table__)
DUE_STATES = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING)


def new_worker_id() -> str:
    """host:pid:random, at most 64 characters (the claimed_by column)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Claimed:
    id: int
    message_id: str
    recipient: str
    recipient_domain: str
    attempts: int
    created_at: datetime
    # The outbound route it was given (None: the default way out); see admission.py.
    route_id: int | None = None


@dataclass(frozen=True)
class MessageData:
    id: str
    source: str
    envelope_from: str
    sign_domain: str | None
    submitted_by: str | None
    raw: bytes
    created_at: datetime
    tenant_id: int | None = None
    type: str = "transactional"  # models.statuses.MessageType
    batch_id: str | None = None
    list_id: str | None = None


@dataclass(frozen=True)
class SigningKey:
    key_id: int
    selector: str
    private_key_pem: str


@dataclass(frozen=True)
class Batch:
    claimed: list[Claimed]
    messages: dict[str, MessageData]
    # Per sign domain: its active key, or why it may not send now.
    signers: dict[str, SigningKey | str]


def any_due(session: Session, now: datetime) -> bool:
    """A read: an idle worker asks this before it takes SQLite's write lock to claim."""
    due = select(deliveries.c.id).where(
        deliveries.c.next_attempt_at <= now, deliveries.c.status.in_(DUE_STATES)
    )
    return session.execute(due.limit(1)).first() is not None


def claim(
    session: Session, worker_id: str, limit: int, lease_seconds: float, now: datetime
) -> Batch:
    due = (
        select(deliveries.c.id)
        .where(deliveries.c.next_attempt_at <= now, deliveries.c.status.in_(DUE_STATES))
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    statement = (
        update(deliveries)
        .where(deliveries.c.id.in_(due.scalar_subquery()))
        .values(
            status=DeliveryStatus.SENDING.value,
            claimed_by=worker_id,
            next_attempt_at=now + timedelta(seconds=lease_seconds),
            updated_at=now,
        )
        .returning(
            deliveries.c.id,
            deliveries.c.message_id,
            deliveries.c.recipient,
            deliveries.c.recipient_domain,
            deliveries.c.attempts,
            deliveries.c.created_at,
            deliveries.c.route_id,
        )
    )
    claimed = [Claimed(*row) for row in session.execute(statement)]
    # Recipients suppressed since they were queued: recorded as such, never attempted.
    withheld = suppressions.withhold_claimed(session, [c.id for c in claimed], now)
    claimed = [c for c in claimed if c.id not in withheld]
    if not claimed:
        return Batch([], {}, {})
    message_ids = {c.message_id for c in claimed}
    messages = {
        row.id: MessageData(
            row.id,
            row.source,
            row.envelope_from,
            row.sign_domain,
            row.submitted_by,
            row.raw,
            row.created_at,
            row.tenant_id,
            row.type,
            row.batch_id,
            row.list_id,
        )
        for row in session.execute(
            select(
                OutboundMessage.id,
                OutboundMessage.source,
                OutboundMessage.envelope_from,
                OutboundMessage.sign_domain,
                OutboundMessage.submitted_by,
                OutboundMessage.raw,
                OutboundMessage.created_at,
                OutboundMessage.tenant_id,
                OutboundMessage.type,
                OutboundMessage.batch_id,
                OutboundMessage.list_id,
            ).where(OutboundMessage.id.in_(message_ids))
        )
    }
    if any(m.list_id for m in messages.values()):
        # Recipients who left a list since its message was queued (unsubscribe/lists.py).
        left = lists.withhold(
            session,
            [
                (c.id, messages[c.message_id].tenant_id, messages[c.message_id].list_id,
                 c.recipient)
                for c in claimed
                if messages[c.message_id].list_id
            ],
            now,
        )  # fmt: skip
        if left:
            claimed = [c for c in claimed if c.id not in left]
            messages = {c.message_id: messages[c.message_id] for c in claimed}
            if not claimed:
                return Batch([], {}, {})
    sign_domains = {m.sign_domain for m in messages.values() if m.sign_domain}
    return Batch(claimed, messages, signers(session, sign_domains))


def signers(session: Session, names: set[str]) -> dict[str, SigningKey | str]:
    """Each domain's active key, checked now: a domain that lost the right to send since
    the message was accepted must not have it delivered, signed or otherwise."""
    if not names:
        return {}
    found: dict[str, SigningKey | str] = {
        name: f"5.7.1 sending domain {name} is not hosted here any more" for name in names
    }
    domains = {d.id: d for d in session.scalars(select(Domain).where(Domain.name.in_(names)))}
    # An alias domain receives mail but has no key of its own, and signing with its target's
    # key would not be aligned with the From: say so (the writer's DSN shows it).
    alias_domains = session.execute(
        select(AliasDomain.name, Domain.name)
        .join(Domain, Domain.id == AliasDomain.domain_id)
        .where(AliasDomain.name.in_(names))
    )
    for alias_name, target in alias_domains:
        found[alias_name] = (
            f"5.7.1 {alias_name} is an alias domain without a DKIM key of its own; "
            f"write from an address at {target} to reach outside recipients"
        )
    for domain in domains.values():
        if not can_send(domain):
            found[domain.name] = (
                f"5.7.1 sending domain {domain.name} may not send now "
                f"(status {domain.status}, DNS {domain.verification_status})"
            )
        else:
            found[domain.name] = f"5.7.1 sending domain {domain.name} has no active DKIM key"
    keys = session.scalars(
        select(DkimKey).where(
            DkimKey.domain_id.in_(list(domains)), DkimKey.status == DkimKeyStatus.ACTIVE
        )
    )
    for key in keys:
        domain = domains[key.domain_id]
        if can_send(domain):
            found[domain.name] = SigningKey(key.id, key.selector, key.private_key_pem)
    return found


def renew_leases(session: Session, worker_id: str, lease_seconds: float, now: datetime) -> int:
    result = session.execute(
        update(deliveries)
        .where(
            deliveries.c.claimed_by == worker_id,
            deliveries.c.status == DeliveryStatus.SENDING.value,
        )
        .values(next_attempt_at=now + timedelta(seconds=lease_seconds))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Outcome:
    """A delivery's new state and the attempt that led to it, ready to be written."""

    delivery_id: int
    status: DeliveryStatus
    next_attempt_at: datetime | None
    finished_at: datetime | None
    outcome: str
    code: int | None
    enhanced_code: str | None
    reply: str
    remote_host: str | None
    remote_ip: str | None
    started_at: datetime
    duration_ms: int


def _bounce_kind(outcome: Outcome) -> tuple[str, str] | None:
    """hard/soft and what kind, for a refusal the remote gave at once (5xx), classified
    like an asynchronous bounce (delivery/classification.py)."""
    if outcome.status != DeliveryStatus.BOUNCED:
        return None
    return classify(outcome.code, outcome.enhanced_code, outcome.reply)


def _settled(outcome: Outcome) -> observers.Settled:
    kind = _bounce_kind(outcome)
    return observers.Settled(
        delivery_id=outcome.delivery_id,
        status=outcome.status,
        code=outcome.code,
        enhanced_code=outcome.enhanced_code,
        reply=outcome.reply,
        at=outcome.started_at,
        bounce_type=kind[0] if kind else None,
        classification=kind[1] if kind else None,
    )


def commit_outcomes(
    session: Session,
    worker_id: str,
    outcomes: Sequence[Outcome],
    dsn_payloads: Sequence[dict[str, Any]],
    now: datetime,
    job_lease_seconds: float,
) -> list[int]:
    """Write the outcomes; return the ids of the DSN jobs added (held by this worker for
    ``job_lease_seconds``: it sends them at once, any worker runs them after that)."""
    if outcomes:
        # Only rows this worker still holds: one whose lease ran out belongs to whoever
        # claimed it since (the attempt row is still recorded).
        session.execute(
            update(deliveries)
            .where(
                deliveries.c.id == bindparam("b_id"),
                deliveries.c.claimed_by == worker_id,
            )
            .values(
                status=bindparam("b_status"),
                next_attempt_at=bindparam("b_next"),
                finished_at=bindparam("b_finished"),
                claimed_by=None,
                held_by=None,
                attempts=deliveries.c.attempts + 1,
                last_code=bindparam("b_code"),
                last_enhanced_code=bindparam("b_enhanced"),
                last_reply=bindparam("b_reply"),
                last_remote=bindparam("b_remote"),
                bounce_type=bindparam("b_bounce_type"),
                bounce_classification=bindparam("b_classification"),
                updated_at=now,
            ),
            [
                {
                    "b_id": o.delivery_id,
                    "b_status": o.status.value,
                    "b_next": o.next_attempt_at,
                    "b_finished": o.finished_at,
                    "b_code": o.code,
                    "b_enhanced": o.enhanced_code,
                    "b_reply": o.reply,
                    "b_remote": o.remote_host
                    if not o.remote_ip
                    else f"{o.remote_host} [{o.remote_ip}]",
                    "b_bounce_type": kind[0] if kind else None,
                    "b_classification": kind[1] if kind else None,
                }
                for o in outcomes
                for kind in [_bounce_kind(o)]
            ],
        )
        session.execute(
            insert(attempts_table),
            [
                {
                    "delivery_id": o.delivery_id,
                    "started_at": o.started_at,
                    "duration_ms": o.duration_ms,
                    "outcome": o.outcome,
                    "remote_host": o.remote_host,
                    "remote_ip": o.remote_ip,
                    "code": o.code,
                    "enhanced_code": o.enhanced_code,
                    "reply": o.reply,
                }
                for o in outcomes
            ],
        )
        observers.outcomes_recorded(session, [_settled(o) for o in outcomes], now)
    if not dsn_payloads:
        return []
    return list(
        session.scalars(
            insert(jobs).returning(jobs.c.id, sort_by_parameter_order=True),
            [
                {
                    "kind": "dsn.send",
                    "payload": payload,
                    "run_at": now + timedelta(seconds=job_lease_seconds),
                    "attempts": 0,
                    "claimed_by": worker_id,
                    "created_at": now,
                }
                for payload in dsn_payloads
            ],
        )
    )
