"""Login throttling: fixed-window attempt counters, shared by every API process through the
database, and the policy that keeps guessing slow without locking anybody else out.

Three counters per attempt, each with its own ceiling (docs/operations.md):

* (account, client network): low. The one that normally bites; it only stops whoever
  sends wrong passwords for that account from that network.
* client network: higher. Bounds one network guessing across many accounts.
* account: higher. Bounds a botnet guessing one account from many networks.

An (account, network) pair that logged in successfully before is a *known source*: the
network and account ceilings do not apply to it (its pair limit still does). So an
attacker who exhausts an account's or a network's ceiling does not lock the real admin out
of the places it logs in from; guessing stays bounded by the pair limit per known source.

Counters are bumped with one atomic ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``
(SQLite and PostgreSQL alike): concurrent attempts never lose a count or collide on the key.
An attempt is counted before its password is checked, and refused attempts roll their
counts back, so a burst of N parallel guesses admits exactly the limit, no more.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailplane.errors import Throttled
from mailplane.models import KnownLoginSource, ThrottleCounter, utcnow

# One in this many attempts also deletes expired counters, so the table does not
# grow with every address an attacker rotates through.
PRUNE_ONE_IN = 100


@dataclass(frozen=True)
class Limit:
    key: str
    max_attempts: int | None  # None: counted, never refused


def client_network(ip: str) -> str:
    """The unit a client is throttled by: its IPv4 address, or its IPv6 /64, because one
    subscriber usually holds a whole /64 and could rotate through it."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def is_known_source(session: Session, account: str, source: str, since: datetime) -> bool:
    seen = session.scalar(
        select(KnownLoginSource.last_success_at).where(
            KnownLoginSource.account == account, KnownLoginSource.source == source
        )
    )
    return seen is not None and seen >= since


def _bump(session: Session, key: str, window: int, now: datetime) -> tuple[int, datetime]:
    """Add one attempt to ``key`` atomically; a counter whose window ended starts over."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    expired = ThrottleCounter.window_start <= now - timedelta(seconds=window)
    statement = insert(ThrottleCounter).values(key=key, window_start=now, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=[ThrottleCounter.key],
        set_={
            "count": case((expired, 1), else_=ThrottleCounter.count + 1),
            "window_start": case(
                (expired, statement.excluded.window_start), else_=ThrottleCounter.window_start
            ),
        },
    )
    row = session.execute(
        statement.returning(ThrottleCounter.count, ThrottleCounter.window_start)
    ).one()
    count: int = row[0]
    started: datetime = row[1]
    return count, started


def admit(session: Session, limits: list[Limit], window: int) -> None:
    """Count one attempt against every limit, in order; raise Throttled at the first one
    past its maximum. The caller's transaction then rolls back, so a refused attempt
    counts nowhere (it tested no password)."""
    now = utcnow()
    for limit in limits:
        count, started = _bump(session, limit.key, window, now)
        if limit.max_attempts is not None and count > limit.max_attempts:
            remaining = started + timedelta(seconds=window) - now
            raise Throttled(
                "too many failed logins; try again later",
                retry_after=max(1, int(remaining.total_seconds()) + 1),
            )


def prune_sometimes(session: Session, window: int, known_since: datetime) -> None:
    """Now and then, delete counters whose window ended and sources not seen for long."""
    if secrets.randbelow(PRUNE_ONE_IN) != 0:
        return
    cutoff = utcnow() - timedelta(seconds=window)
    session.execute(delete(ThrottleCounter).where(ThrottleCounter.window_start <= cutoff))
    session.execute(delete(KnownLoginSource).where(KnownLoginSource.last_success_at < known_since))


def succeeded(
    session: Session, *, pair_key: str, counted_keys: list[str], account: str, source: str
) -> None:
    """A correct password: the attempt was no failure. Forget the pair's failures (typos),
    take this attempt back from the other counters (but keep their earlier failures: a
    success must not give an attacker a fresh allowance), remember the source."""
    session.execute(delete(ThrottleCounter).where(ThrottleCounter.key == pair_key))
    session.execute(
        update(ThrottleCounter)
        .where(ThrottleCounter.key.in_(counted_keys), ThrottleCounter.count > 0)
        .values(count=ThrottleCounter.count - 1)
    )
    now = utcnow()
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(KnownLoginSource)
        .values(account=account, source=source, last_success_at=now)
        .on_conflict_do_update(
            index_elements=[KnownLoginSource.account, KnownLoginSource.source],
            set_={"last_success_at": now},
        )
    )
