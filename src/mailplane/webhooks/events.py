"""Message events for webhooks, written to the events outbox inside the transaction that
queues a message or records its outcomes, so that an event exists exactly when its change
was committed. The dispatcher (``webhooks/dispatcher.py``) fans them out after commit.

Meanings: ``message.sent`` = the platform accepted the message into its queue (one event
per message, listing its recipients' deliveries; the send API's 2xx); ``message.delivered``
= a remote MX answered 2xx after DATA; ``message.deferred`` = a transient failure, retried;
``message.bounced`` = refused for good (5xx, or a bounce came back); ``message.failed`` =
given up (too old, no route); ``message.suppressed`` = not attempted, the recipient is on
the suppression list; ``message.complained`` = the recipient reported it as spam. All but
``message.sent`` are per delivery (recipient).

Only tenants with an enabled endpoint get message events (one indexed query per batch), so
the batch endpoint pays nothing for tenants that use no webhooks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from mailplane.models import Delivery, Event, OutboundMessage, WebhookEndpoint
from mailplane.models.statuses import DeliveryStatus

EVENTS: Table = Event.__table__  # type: ignore[assignment]

MESSAGE_EVENTS = {
    DeliveryStatus.DELIVERED: "message.delivered",
    DeliveryStatus.DEFERRED: "message.deferred",
    DeliveryStatus.BOUNCED: "message.bounced",
    DeliveryStatus.FAILED: "message.failed",
    DeliveryStatus.SUPPRESSED: "message.suppressed",
}
# The recipient used the one-click (or mailto) unsubscribe of a bulk message.
UNSUBSCRIBED = "message.unsubscribed"
# message.complained: a recipient reported the message as spam (complaints/, an ARF
# report). sending.paused / sending.resumed (circuit_breaker/): the tenant's sending was
# paused (by the breaker or an operator) or resumed; their payload is the pause.
EVENT_TYPES = frozenset(
    {"message.sent", "message.complained", UNSUBSCRIBED, *MESSAGE_EVENTS.values()}
)
SENDING_EVENTS = frozenset({"sending.paused", "sending.resumed"})


class Settled(Protocol):
    """What ``delivery.observers.Settled`` carries (read here without importing it: the
    observers import this module)."""

    @property
    def delivery_id(self) -> int: ...
    @property
    def status(self) -> DeliveryStatus: ...
    @property
    def code(self) -> int | None: ...
    @property
    def enhanced_code(self) -> str | None: ...
    @property
    def reply(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def bounce_type(self) -> str | None: ...
    @property
    def classification(self) -> str | None: ...


def tenants_with_webhooks(session: Session, tenant_ids: Iterable[int | None]) -> set[int]:
    wanted = {t for t in tenant_ids if t is not None}
    if not wanted:
        return set()
    query = select(WebhookEndpoint.tenant_id).where(
        WebhookEndpoint.tenant_id.in_(wanted), WebhookEndpoint.enabled.is_(True)
    )
    return set(session.scalars(query.distinct()))


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(EVENTS), rows)


def messages_queued(
    session: Session,
    queued: Sequence[
        tuple[str, int | None, Sequence[tuple[str, int]], Sequence[str], dict[str, Any]]
    ],
    now: datetime,
) -> None:
    """``message.sent`` for each (message id, tenant, [(recipient, delivery id)], tags,
    metadata): one multi-row INSERT per call."""
    tenants = tenants_with_webhooks(session, (q[1] for q in queued))
    _insert(
        session,
        [
            {
                "type": "message.sent",
                "tenant_id": tenant_id,
                "object_type": "message",
                "object_id": None,
                "at": now,
                "payload": {
                    "message_id": message_id,
                    "deliveries": [{"delivery_id": d, "recipient": r} for r, d in deliveries],
                    "tags": list(tags),
                    "metadata": dict(metadata),
                },
            }
            for message_id, tenant_id, deliveries, tags, metadata in queued
            if tenant_id in tenants
        ],
    )


def outcomes_recorded(session: Session, settled: Sequence[Settled], now: datetime) -> None:
    """One event per settled delivery of a tenant with webhooks; one query for the
    deliveries' messages (tags, metadata) per batch."""
    wanted = {s.delivery_id: s for s in settled if s.status in MESSAGE_EVENTS}
    if not wanted:
        return
    query = (
        select(
            Delivery.id,
            Delivery.message_id,
            Delivery.recipient,
            Delivery.tenant_id,
            OutboundMessage.tags,
            OutboundMessage.message_metadata,
        )
        .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
        .where(
            Delivery.id.in_(list(wanted)),
            Delivery.tenant_id.in_(
                select(WebhookEndpoint.tenant_id).where(WebhookEndpoint.enabled.is_(True))
            ),
        )
    )
    rows = []
    for delivery_id, message_id, recipient, tenant_id, tags, metadata in session.execute(query):
        s = wanted[delivery_id]
        data: dict[str, Any] = {
            "message_id": message_id,
            "delivery_id": delivery_id,
            "recipient": recipient,
            "status": s.status.value,
            "smtp_code": s.code,
            "enhanced_code": s.enhanced_code,
            "reply": s.reply,
            "tags": list(tags or []),
            "metadata": dict(metadata or {}),
        }
        if s.status == DeliveryStatus.BOUNCED:
            data["bounce_type"] = s.bounce_type
            data["classification"] = s.classification
        rows.append(
            {
                "type": MESSAGE_EVENTS[s.status],
                "tenant_id": tenant_id,
                "object_type": "message",
                "object_id": None,
                "at": s.at,
                "payload": data,
            }
        )
    # In delivery id order: the events of one message keep the order of its outcomes.
    rows.sort(key=lambda r: r["payload"]["delivery_id"])
    _insert(session, rows)


def message_unsubscribed(
    session: Session,
    tenant_id: int,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """``message.unsubscribed`` (delivery, recipient, list_id, how) for a tenant with
    webhooks."""
    if tenant_id in tenants_with_webhooks(session, [tenant_id]):
        _insert(
            session,
            [
                {
                    "type": UNSUBSCRIBED,
                    "tenant_id": tenant_id,
                    "object_type": "message",
                    "object_id": None,
                    "at": now,
                    "payload": payload,
                }
            ],
        )
