"""``enqueue``: the one way into the delivery queue (SPEC sections D and G).

The send API, the SMTP intake (mailbox users' submissions and alias forwards), DSNs and,
later, webmail sends, list fan-outs and notices all call it, so that DKIM, suppression,
throttling, statistics and bounce handling apply to every message alike.

It only adds rows and flushes: the caller's transaction decides, and the caller answers
2xx/250 only after its commit. The raw message is stored once; each recipient gets its
own delivery row, due at once or at ``send_at``. Rows are written with one multi-row
INSERT per table, which is what keeps the batch endpoint fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session

from mailplane.models import Delivery, OutboundMessage, utcnow
from mailplane.models.sending import new_message_id
from mailplane.models.statuses import DeliveryStatus, MessageSource, MessageType
from mailplane.names import split_address
from mailplane.statistics import counters
from mailplane.suppressions import policy as suppressions
from mailplane.suppressions import recording
from mailplane.unsubscribe import lists
from mailplane.webhooks import events as webhook_events

DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
MESSAGES: Table = OutboundMessage.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class NewMessage:
    """A message as its producer hands it over. ``recipients`` are normalized envelope
    addresses (A-label domains); ``raw`` is the complete RFC 5322 message with CRLF line
    ends, without a DKIM signature (the engine signs when it sends)."""

    raw: bytes
    recipients: Sequence[str]
    source: MessageSource
    message_id_header: str
    tenant_id: int | None
    envelope_from: str = ""
    header_from: str = ""
    subject: str = ""
    domain_id: int | None = None
    api_key_id: int | None = None
    type: MessageType = MessageType.TRANSACTIONAL
    sign_domain: str | None = None
    submitted_by: str | None = None
    tags: Sequence[str] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    batch_id: str | None = None
    send_at: datetime | None = None
    # A bulk message's list (RFC 2919 List-Id): who left it is withheld (unsubscribe/).
    list_id: str | None = None


@dataclass(frozen=True)
class Queued:
    message_id: str
    # (recipient, delivery id), in the order the recipients were given.
    deliveries: list[tuple[str, int]]
    # Deliveries withheld at once: the recipient is on the tenant's suppression list.
    suppressed: frozenset[int] = frozenset()


def enqueue(session: Session, message: NewMessage, *, now: datetime | None = None) -> Queued:
    return enqueue_many(session, [message], now=now)[0]


def enqueue_many(
    session: Session,
    messages: Sequence[NewMessage],
    *,
    now: datetime | None = None,
    suppressed: dict[int, dict[str, str]] | None = None,
) -> list[Queued]:
    """Store the messages and one queued delivery per recipient; flush, never commit.

    ``suppressed``: ``suppressed_recipients`` looked up by the caller before its write
    transaction (shorter write lock); an address suppressed since is caught at claim."""
    if not messages:
        return []
    now = now or utcnow()
    ids = [new_message_id() for _ in messages]
    # Through the table (the ORM's bulk path costs more than the INSERT itself for one).
    session.execute(
        insert(MESSAGES),
        [
            {
                "id": message_id,
                "tenant_id": m.tenant_id,
                "domain_id": m.domain_id,
                "api_key_id": m.api_key_id,
                "source": m.source.value,
                "type": m.type.value,
                "message_id_header": m.message_id_header,
                "envelope_from": m.envelope_from,
                "header_from": m.header_from,
                "subject": m.subject[:998],
                "sign_domain": m.sign_domain,
                "submitted_by": m.submitted_by,
                "raw": m.raw,
                "size": len(m.raw),
                "tags": list(m.tags),
                "metadata": dict(m.metadata),
                "batch_id": m.batch_id,
                "list_id": m.list_id,
                "send_at": m.send_at,
                "created_at": now,
            }
            for message_id, m in zip(ids, messages, strict=True)
        ],
    )
    blocked = (
        suppressed if suppressed is not None else suppressed_recipients(session, messages, now)
    )
    rows = [
        {
            "message_id": message_id,
            "tenant_id": m.tenant_id,
            "recipient": recipient,
            "recipient_domain": split_address(recipient)[1].lower(),
            "status": DeliveryStatus.QUEUED.value,
            "attempts": 0,
            "next_attempt_at": m.send_at if m.send_at and m.send_at > now else now,
            "created_at": now,
            "updated_at": now,
        }
        for message_id, m in zip(ids, messages, strict=True)
        for recipient in m.recipients
    ]
    delivery_ids = _insert_deliveries(session, rows) if rows else []
    results: list[Queued] = []
    withheld: dict[int, str] = {}
    left_list: dict[int, str] = {}  # deliveries to those who left the message's list
    position = 0
    for message_id, m in zip(ids, messages, strict=True):
        count = len(m.recipients)
        pairs = list(zip(m.recipients, delivery_ids[position : position + count], strict=True))
        reasons = blocked.get(m.tenant_id, {}) if m.tenant_id is not None else {}
        mine = {i: reasons[r.lower()] for r, i in pairs if r.lower() in reasons}
        withheld.update(mine)
        if m.list_id is not None and m.tenant_id is not None:
            left = lists.to_withhold(
                session, [(i, m.tenant_id, m.list_id, r) for r, i in pairs if i not in mine]
            )
            left_list.update(left)
            mine = {**mine, **dict.fromkeys(left, "")}
        results.append(Queued(message_id, pairs, frozenset(mine)))
        position += count
    webhook_events.messages_queued(
        session,
        [
            (
                q.message_id,
                m.tenant_id,
                [d for d in q.deliveries if d[1] not in q.suppressed],
                m.tags,
                m.metadata,
            )
            for q, m in zip(results, messages, strict=True)
        ],
        now,
    )
    if withheld:
        recording.withhold_queued(session, withheld, now)
    lists.mark(session, left_list, now)
    counters.record_accepted(
        session,
        [
            (m.tenant_id, m.domain_id, len(q.deliveries) - len(q.suppressed))
            for m, q in zip(messages, results, strict=True)
        ],
        now,
    )
    return results


def suppressed_recipients(
    session: Session, messages: Sequence[NewMessage], now: datetime
) -> dict[int, dict[str, str]]:
    """Per tenant: its recipients here that are suppressed (lower case → reason)."""
    wanted: dict[int, set[str]] = {}
    for m in messages:
        if m.tenant_id is not None and m.recipients:
            wanted.setdefault(m.tenant_id, set()).update(r.lower() for r in m.recipients)
    return {
        tenant_id: found
        for tenant_id, addresses in wanted.items()
        if (found := suppressions.suppressed_addresses(session, tenant_id, addresses, now))
    }


def _insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """The new rows' ids, in the order of ``rows``.

    Through the table, not the ORM entity: no per-row ORM bookkeeping (a third of the
    time). On SQLite, multi-row INSERTs with ``RETURNING id``, sorted: AUTOINCREMENT gives
    each row max + 1 in the order of the VALUES list, under the write lock this transaction
    holds. On PostgreSQL, see ``_insert_deliveries_postgresql``.
    """
    if session.get_bind().dialect.name == "sqlite":
        return sorted(session.scalars(insert(DELIVERIES).returning(DELIVERIES.c.id), rows))
    return _insert_deliveries_postgresql(session, rows)


# One array per column, unnested into rows: the statement stays small whatever the number
# of rows. A multi-row VALUES list of 1,000 rows has 9,000 placeholders, and psycopg
# rewrote that text for every batch: half the time of the batch endpoint went there.
_UNNEST_DELIVERIES = text(
    "INSERT INTO deliveries (id, message_id, tenant_id, recipient, recipient_domain, status,"
    " attempts, next_attempt_at, created_at, updated_at)"
    " SELECT * FROM unnest(CAST(:id AS bigint[]), CAST(:message_id AS varchar[]),"
    " CAST(:tenant_id AS integer[]), CAST(:recipient AS varchar[]),"
    " CAST(:recipient_domain AS varchar[]), CAST(:status AS varchar[]),"
    " CAST(:attempts AS integer[]), CAST(:next_attempt_at AS timestamptz[]),"
    " CAST(:created_at AS timestamptz[]), CAST(:updated_at AS timestamptz[]))"
)
_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('deliveries', 'id')) FROM generate_series(1, :n)"
)


# Up to this many rows, one multi-row INSERT ... RETURNING (one round trip) is cheaper
# than taking ids from the sequence first (two).
_SMALL_INSERT_ROWS = 50


def _insert_deliveries_postgresql(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Ids are taken from the table's sequence first and written explicitly, so each row's
    id is known without relying on the order of RETURNING."""
    if len(rows) <= _SMALL_INSERT_ROWS:
        ordered = insert(DELIVERIES).returning(DELIVERIES.c.id, sort_by_parameter_order=True)
        return list(session.scalars(ordered, rows))
    ids = [int(i) for i in session.scalars(_NEXT_IDS, {"n": len(rows)})]
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    session.execute(_UNNEST_DELIVERIES, {"id": ids, **columns})
    return ids
