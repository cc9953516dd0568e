"""When the engine learns an address is gone: the automatic side of the suppression list.

Called from ``delivery/observers.outcomes_recorded`` inside the outcome transaction, and
at claim and enqueue time to withhold deliveries to suppressed addresses. Only adds and
updates rows and flushes.

- A delivery bounced hard as ``invalid_address`` (5.1.1, 5.1.2, 5.1.10) suppresses its
  recipient for its tenant at once.
- A delivery that ended soft-bounced (mailbox full, a temporary policy refusal, ...) is
  counted; ``suppression_soft_bounce_limit`` of them within
  ``suppression_soft_bounce_days`` suppress it. Deferrals are retries, not bounces: they
  do not count.
- Hard policy blocks (5.7.x), content refusals and technical failures never suppress: they
  say something about the sender or the message, not about the address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailplane.config import Settings, get_settings
from mailplane.delivery.classification import Reported, kind_of
from mailplane.models import Delivery, SoftBounce, Suppression
from mailplane.models.statuses import DeliveryStatus


class Settled(Reported, Protocol):
    """An ``observers.Settled`` as this module reads it (it may not import observers:
    they call it)."""

    @property
    def delivery_id(self) -> int: ...
    @property
    def status(self) -> DeliveryStatus: ...


IN_CHUNK = 500


class Reason(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    REPEATED_SOFT_BOUNCE = "repeated_soft_bounce"
    MANUAL = "manual"
    IMPORT = "import"
    # The recipient asked (one-click or mailto unsubscribe, unsubscribe/); never expires.
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINT = "complaint"  # an ARF spam report (complaints/)


def settings_of(session: Session) -> Settings:
    """The settings of the Database that opened this session (db/ puts them in its
    ``info``), else the process's."""
    found = session.info.get("settings")
    return found if isinstance(found, Settings) else get_settings()


def expiry(settings: Settings, now: datetime) -> datetime | None:
    days = settings.suppression_expiry_days
    return now + timedelta(days=days) if days else None


def active(now: datetime) -> object:
    """Entries that still suppress: not expired."""
    return or_(Suppression.expires_at.is_(None), Suppression.expires_at > now)


@dataclass(frozen=True)
class NewEntry:
    tenant_id: int
    address: str
    reason: Reason
    detail: str = ""
    delivery_id: int | None = None
    message_id: str | None = None
    expires_at: datetime | None = None


def upsert(session: Session, entries: Sequence[NewEntry], now: datetime) -> int:
    """Add entries; an address already listed is renewed (reason, cause, expiry), so a
    fresh hard bounce after an expired entry suppresses again. One statement per batch,
    atomic across processes. Returns the number of rows written."""
    unique = {(e.tenant_id, e.address): e for e in entries}
    if not unique:
        return 0
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = module.insert(Suppression).values(
        [
            {
                "tenant_id": e.tenant_id,
                "address": e.address,
                "reason": e.reason.value,
                "detail": e.detail[:2000],
                "delivery_id": e.delivery_id,
                "message_id": e.message_id,
                "created_at": now,
                "expires_at": e.expires_at,
            }
            for e in unique.values()
        ]
    )
    statement = statement.on_conflict_do_update(
        index_elements=[Suppression.tenant_id, Suppression.address],
        set_={
            "reason": statement.excluded.reason,
            "detail": statement.excluded.detail,
            "delivery_id": statement.excluded.delivery_id,
            "message_id": statement.excluded.message_id,
            "created_at": statement.excluded.created_at,
            "expires_at": statement.excluded.expires_at,
        },
    )
    session.execute(statement)
    return len(unique)


def suppressed_addresses(
    session: Session, tenant_id: int, addresses: Iterable[str], now: datetime
) -> dict[str, str]:
    """Which of these (lower-case) addresses the tenant suppresses now, with the reason."""
    wanted = sorted({a.lower() for a in addresses})
    found: dict[str, str] = {}
    for start in range(0, len(wanted), IN_CHUNK):
        rows = session.execute(
            select(Suppression.address, Suppression.reason).where(
                Suppression.tenant_id == tenant_id,
                Suppression.address.in_(wanted[start : start + IN_CHUNK]),
                active(now),  # type: ignore[arg-type]
            )
        )
        for address, reason in rows:
            found[address] = reason
    return found


def withhold(session: Session, delivery_ids: Sequence[int], now: datetime) -> dict[int, str]:
    """Of these claimed deliveries, mark those to suppressed addresses ``suppressed``
    (final, never attempted); return their ids with the reply recorded. The caller tells
    the observers (``suppressions/recording.py``)."""
    if not delivery_ids:
        return {}
    rows = session.execute(
        select(Delivery.id, Suppression.reason)
        .join(
            Suppression,
            and_(
                Suppression.tenant_id == Delivery.tenant_id,
                Suppression.address == func.lower(Delivery.recipient),
            ),
        )
        .where(Delivery.id.in_(delivery_ids), active(now))  # type: ignore[arg-type]
    ).all()
    return mark_suppressed(session, {row[0]: row[1] for row in rows}, now)


def suppressed_reply(reason: str) -> str:
    return f"5.7.0 not sent: the recipient is on the suppression list ({reason})"


def mark_suppressed(session: Session, reasons: dict[int, str], now: datetime) -> dict[int, str]:
    """Deliveries (id → the entry's reason) become suppressed; returns id → reply."""
    return mark_withheld(
        session,
        {delivery_id: suppressed_reply(reason) for delivery_id, reason in reasons.items()},
        now,
    )


def mark_withheld(session: Session, replies: dict[int, str], now: datetime) -> dict[int, str]:
    """Deliveries (id → the reply to record) become suppressed; returns ``replies``."""
    for delivery_id, reply in replies.items():
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(
                status=DeliveryStatus.SUPPRESSED.value,
                next_attempt_at=None,
                finished_at=now,
                claimed_by=None,
                last_reply=reply,
                updated_at=now,
            )
        )
    return replies


def record_outcomes(
    session: Session, settled: Sequence[Settled], now: datetime, settings: Settings | None = None
) -> None:
    """The observer: suppress recipients of hard invalid-address bounces, count soft
    bounces and suppress after the limit."""
    bounced = [s for s in settled if s.status == DeliveryStatus.BOUNCED]
    if not bounced:
        return
    settings = settings or settings_of(session)
    kinds = {s.delivery_id: kind_of(s) for s in bounced}
    wanted = [
        s for s in bounced if kinds[s.delivery_id] == ("hard", "invalid_address")
        or kinds[s.delivery_id][0] == "soft"
    ]  # fmt: skip
    if not wanted:
        return
    rows = {
        row.id: row
        for row in session.execute(
            select(Delivery.id, Delivery.tenant_id, Delivery.recipient, Delivery.message_id).where(
                Delivery.id.in_([s.delivery_id for s in wanted]),
                Delivery.tenant_id.is_not(None),
            )
        )
    }
    entries: list[NewEntry] = []
    soft: list[tuple[Settled, int, str]] = []
    for s in wanted:
        row = rows.get(s.delivery_id)
        if row is None:  # the platform's own mail (DSNs): no tenant, no list
            continue
        address = row.recipient.lower()
        if kinds[s.delivery_id][0] == "hard":
            entries.append(
                NewEntry(
                    row.tenant_id, address, Reason.HARD_BOUNCE, s.reply,
                    s.delivery_id, row.message_id, expiry(settings, now),
                )
            )  # fmt: skip
        else:
            soft.append((s, row.tenant_id, address))
    if soft and settings.suppression_soft_bounce_limit:
        session.execute(
            insert(SoftBounce),
            [
                {"tenant_id": t, "address": a, "delivery_id": s.delivery_id, "at": now}
                for s, t, a in soft
            ],
        )
        since = now - timedelta(days=settings.suppression_soft_bounce_days)
        for s, tenant_id, address in soft:
            count = session.scalar(
                select(func.count(func.distinct(SoftBounce.delivery_id))).where(
                    SoftBounce.tenant_id == tenant_id,
                    SoftBounce.address == address,
                    SoftBounce.at >= since,
                )
            )
            if (count or 0) >= settings.suppression_soft_bounce_limit:
                entries.append(
                    NewEntry(
                        tenant_id, address, Reason.REPEATED_SOFT_BOUNCE,
                        f"{count} soft bounces within "
                        f"{settings.suppression_soft_bounce_days:g} days; last: {s.reply}",
                        s.delivery_id, rows[s.delivery_id].message_id, expiry(settings, now),
                    )
                )  # fmt: skip
    upsert(session, entries, now)


def sweep(session: Session, settings: Settings, now: datetime) -> int:
    """Expired entries and soft bounces older than the window go."""
    removed = session.execute(
        delete(Suppression).where(
            Suppression.expires_at.is_not(None), Suppression.expires_at <= now
        )
    )
    since = now - timedelta(days=settings.suppression_soft_bounce_days)
    session.execute(delete(SoftBounce).where(SoftBounce.at < since))
    return int(removed.rowcount)  # type: ignore[attr-defined]
