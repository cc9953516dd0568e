"""Keyset pagination: every page is an index range scan, so the last page of 10,000
rows costs what the first one does (OFFSET would read and discard every earlier row)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from mailplane.errors import InvalidInput
from mailplane.schemas import MAX_ID

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        kind, _, value = text.partition(":")
        if kind != "id" or not value.isdigit():
            raise ValueError(kind)
        last_id = int(value)
        # A forged cursor must not carry a number the id column cannot hold (a 500 before).
        if last_id > MAX_ID:
            raise ValueError(value)
        return last_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "the cursor is not one this API handed out", code="invalid_cursor"
        ) from exc


def keyset_page(
    session: Session,
    query: Select[T],
    id_column: InstrumentedAttribute[Any],
    *,
    limit: int,
    cursor: str | None,
    newest_first: bool = False,
) -> Page[T]:
    """One page in id order (``newest_first``: descending, for logs); the cursor is the
    last id handed out, so rows added meanwhile never shift a page."""
    if cursor:
        last = decode_cursor(cursor)
        query = query.where(id_column < last if newest_first else id_column > last)
    order = id_column.desc() if newest_first else id_column
    rows = list(session.scalars(query.order_by(order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], "id")) if more and rows else None  # noqa: B009
    return Page(items=rows, next_cursor=next_cursor)
