"""Base classes shared by every request and response schema."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

# Ids are INTEGER columns: 32-bit signed on PostgreSQL. A larger number cannot name a row,
# and sending it to the database fails there (PostgreSQL: "integer out of range"; SQLite:
# OverflowError past 2**63), so it is refused as input instead.
MAX_ID = 2**31 - 1
# Strict: JSON `true` is not tenant 1 and "7" is not 7 (pydantic's lax mode converts both).
ObjectId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]

# No C0 controls (CR, LF, NUL: header injection, and PostgreSQL refuses NUL in text), no
# DEL or C1 controls, and no U+2028/U+2029: Python's str.splitlines() and several mail and
# log tools treat NEL (U+0085) and these separators as line breaks.
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
NO_CONTROL_NONEMPTY = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]+$"


def _strip_not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must contain more than white space")
    return value


class RequestModel(BaseModel):
    """Request bodies: unknown fields are an error, never silently dropped, and every value
    has its JSON type: no "yes" or 1 for a boolean, no "1" or true for a number. Lax
    conversion turned `"customer_id": true` into tenant 1."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageOut(ResponseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= to get the next page; null on the last page."
    )


# A password: printable, no NUL/CR/LF (SASL PLAIN separates fields with NUL).
Password = Annotated[
    str, StringConstraints(min_length=8, max_length=1024, pattern=NO_CONTROL_NONEMPTY)
]
# A name shown to people: one line, stripped, never only white space.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=NO_CONTROL_NONEMPTY),
    AfterValidator(_strip_not_blank),
]
# Free text (notes): no control characters either, so that it is safe in any export.
Text = Annotated[str, StringConstraints(max_length=2000, pattern=NO_CONTROL)]
