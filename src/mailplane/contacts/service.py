"""Contacts: recorded by an upsert per address, ranked for autocomplete.

``record`` is the one way in, for every producer: the webmail's send path ("sent", and
"received" for the sender of a message it replies to) and the live-event watcher ("received"
when a new message arrives). It is an ``INSERT ... ON CONFLICT (mailbox_id, address) DO
UPDATE``: two processes recording the same address at once both count, neither fails.

Ranking: ``score = (2 * sent_count + received_count) * 0.5 ** (age_days / 30)`` where
``age_days`` is the time since the address was last used; addresses the user writes to
weigh twice those that only write to the user, and a contact loses half its weight every
30 days without use. A match at the start of the address, of the name or of a word of the
name doubles the score (typing "ali" means Alice before it means Natalie).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import idna
from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailplane.errors import InvalidInput, MailplaneError, NotFound
from mailplane.models import Contact
from mailplane.names import normalize_address, reject_control_characters, to_u_label

log = logging.getLogger(__name__)

Direction = Literal["sent", "received"]
HALF_LIFE_DAYS = 30.0
SENT_WEIGHT = 2
PREFIX_BOOST = 2.0
MAX_NAME_CHARS = 200
# Autocomplete scores at most this many of the most recently used matches.
CANDIDATES = 500


def _clean(address: str, name: str) -> tuple[str, str] | None:
    """The canonical address and a one-line name, or None for what is not an address
    (received mail carries anything; it is skipped, not an error)."""
    try:
        canonical = normalize_address(address)
    except MailplaneError:
        return None
    try:
        reject_control_characters(name, "name")
    except InvalidInput:
        name = " ".join(name.split())
    name = name.strip().strip('"').strip()
    if name.lower() == canonical:
        name = ""
    return canonical, name[:MAX_NAME_CHARS]


def record(
    session: Session,
    tenant_id: int,
    mailbox_id: int,
    addresses: Iterable[tuple[str, str]],
    direction: Direction,
    now: datetime,
) -> int:
    """Counts one use of each ``(address, display name)`` (name may be "") for the mailbox:
    ``direction`` is "sent" (the user wrote to it) or "received" (it wrote to the user).

    Invalid addresses are skipped; a non-empty name replaces the stored one. Flushes only:
    the caller commits. Returns how many distinct addresses were recorded.
    """
    rows: dict[str, str] = {}
    for address, name in addresses:
        cleaned = _clean(address, name or "")
        if cleaned is not None:
            canonical, clean_name = cleaned
            if clean_name or canonical not in rows:
                rows[canonical] = clean_name
    if not rows:
        return 0
    sent = 1 if direction == "sent" else 0
    received = 1 - sent
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    # Sorted: concurrent upserts of overlapping sets lock rows in one order (no deadlock).
    statement = module.insert(Contact).values(
        [
            {
                "tenant_id": tenant_id,
                "mailbox_id": mailbox_id,
                "address": address,
                "name": rows[address],
                "sent_count": sent,
                "received_count": received,
                "last_used_at": now,
            }
            for address in sorted(rows)
        ]
    )
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[Contact.mailbox_id, Contact.address],
        set_={
            "sent_count": Contact.sent_count + excluded.sent_count,
            "received_count": Contact.received_count + excluded.received_count,
            "name": case((excluded.name != "", excluded.name), else_=Contact.name),
            "last_used_at": case(
                (excluded.last_used_at > Contact.last_used_at, excluded.last_used_at),
                else_=Contact.last_used_at,
            ),
        },
    )
    session.execute(statement)
    return len(rows)


@dataclass(frozen=True)
class Ranked:
    contact: Contact
    score: float


def score(contact: Contact, now: datetime) -> float:
    age_days = max(0.0, (now - contact.last_used_at).total_seconds() / 86400)
    uses = SENT_WEIGHT * contact.sent_count + contact.received_count
    return float(uses * 0.5 ** (age_days / HALF_LIFE_DAYS))


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _starts(contact: Contact, query: str) -> bool:
    name = contact.name.casefold()
    local = contact.address
    return (
        local.startswith(query)
        or to_u_label(local.rpartition("@")[2]).startswith(query)
        or name.startswith(query)
        or any(word.startswith(query) for word in name.split())
    )


def _a_labels(query: str) -> str:
    """The query with each non-ASCII domain label as its A-label ("bücher" finds
    "xn--bcher-kva"): addresses are stored with A-label domains."""
    local, at, domain = query.rpartition("@")
    labels = []
    for label in domain.split("."):
        if not label.isascii():
            with contextlib.suppress(idna.IDNAError, UnicodeError):
                label = idna.encode(label, uts46=True).decode("ascii")
        labels.append(label)
    return f"{local}{at}{'.'.join(labels)}"


def autocomplete(
    session: Session, tenant_id: int, mailbox_id: int, query: str, limit: int, now: datetime
) -> list[Ranked]:
    """Contacts whose address or name contains ``query`` (case-insensitively), best first."""
    needle = query.strip().casefold()
    if not needle:
        return []
    # Addresses are stored in lower case with A-label domains; a U-label query finds them too.
    needles = {needle}
    if not needle.isascii():
        needles.add(_a_labels(needle))
    conditions = []
    for text in needles:
        pattern = _like(text)
        conditions.append(Contact.address.like(pattern, escape="\\"))
        conditions.append(func.lower(Contact.name).like(pattern, escape="\\"))
    rows = session.scalars(
        select(Contact)
        .where(
            Contact.mailbox_id == mailbox_id,
            Contact.tenant_id == tenant_id,
            or_(*conditions),
        )
        .order_by(Contact.last_used_at.desc(), Contact.id.desc())
        .limit(CANDIDATES)
    )
    ranked = []
    for contact in rows:
        value = score(contact, now)
        if _starts(contact, needle):
            value *= PREFIX_BOOST
        ranked.append(Ranked(contact, value))
    ranked.sort(key=lambda r: (-r.score, r.contact.address))
    return ranked[:limit]


def forget(session: Session, tenant_id: int, mailbox_id: int, contact_id: int) -> None:
    deleted = session.execute(
        delete(Contact).where(
            Contact.id == contact_id,
            Contact.mailbox_id == mailbox_id,
            Contact.tenant_id == tenant_id,
        )
    )
    if not getattr(deleted, "rowcount", 0):
        raise NotFound("no such contact", code="contact_not_found")
