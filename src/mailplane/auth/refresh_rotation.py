"""Refresh-token rotation with reuse detection, for tenant admins' and mailbox users'
logins alike (their tokens live in two tables of the same shape).

Each refresh token works once; the answer carries its successor. A token presented again
after its rotation was copied: the thief or the owner holds the successor, and we cannot
tell which, so the whole family (the login it came from) is revoked (OAuth 2.0 Security
BCP, RFC 9700 section 4.14.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailplane.auth.secrets import digest
from mailplane.models import MailboxRefreshToken, RefreshToken

Token = TypeVar("Token", RefreshToken, MailboxRefreshToken)


@dataclass(frozen=True)
class Claim(Generic[Token]):
    """The presented token's row; ``claimed`` when this request rotated it (only one of two
    concurrent requests with the same token does)."""

    row: Token | None
    claimed: bool


def claim(session: Session, table: type[Token], token: str, now: datetime) -> Claim[Token]:
    row = session.scalar(select(table).where(table.token_hash == digest(token)))
    if row is None:
        return Claim(None, False)
    # The claim is the UPDATE itself: of two requests with the same token, one wins.
    claimed = session.scalar(
        update(table)
        .where(table.id == row.id, table.revoked_at.is_(None), table.expires_at > now)
        .values(revoked_at=now)
        .returning(table.id)
        .execution_options(synchronize_session=False)
    )
    if claimed is None and row.revoked_at is not None:
        revoke_family(session, table, row.family_id, now)
    return Claim(row, claimed is not None)


def revoke_family(session: Session, table: type[Token], family_id: str, now: datetime) -> None:
    session.execute(
        update(table)
        .where(table.family_id == family_id, table.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def revoke_login(session: Session, table: type[Token], token: str, now: datetime) -> None:
    """Logout: every token of the presented token's family."""
    row = session.scalar(select(table).where(table.token_hash == digest(token)))
    if row is not None:
        revoke_family(session, table, row.family_id, now)
