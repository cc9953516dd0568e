"""Path and query parameters that name rows, bounded to what an id column can hold.

An id past ``MAX_ID`` cannot exist; without the bound it reached the database and came back
as a 500 (PostgreSQL: "integer out of range"; SQLite: OverflowError past 2**63).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from mailplane.schemas import MAX_ID

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalQueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
