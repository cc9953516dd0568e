from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from mailplane.models import Alias
from mailplane.schemas import RequestModel, ResponseModel

Address = Annotated[str, StringConstraints(min_length=1, max_length=320)]
# The comma-separated form must be able to hold as many addresses as the list form.
AddressList = Annotated[str, StringConstraints(min_length=1, max_length=100 * 322)]
Destinations = Annotated[
    AddressList | Annotated[list[Address], Field(min_length=1, max_length=100)],
    Field(
        description="One address, several separated by commas, or a list (at most 100).",
    ),
]


class AliasCreate(RequestModel):
    source: Address = Field(
        description="A local part ('sales'), a full address at this domain, or '@' / '*' "
        "for a catch-all."
    )
    destination: Destinations
    keep_copy: bool = Field(
        default=False,
        description="When the source is a mailbox: deliver there too (forward with a copy).",
    )
    active: bool = True


class AliasUpdate(RequestModel):
    destination: Destinations | None = None
    keep_copy: bool | None = None
    active: bool | None = None


class AliasOut(ResponseModel):
    id: int
    domain_id: int
    customer_id: int
    source: str
    is_catch_all: bool
    destination: str
    destinations: list[str]
    keep_copy: bool
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, alias: Alias, destinations: list[str]) -> AliasOut:
        return cls(
            id=alias.id,
            domain_id=alias.domain_id,
            customer_id=alias.tenant_id,
            source=alias.source,
            is_catch_all=alias.source.startswith("@"),
            destination=", ".join(destinations),
            destinations=destinations,
            keep_copy=alias.keep_copy,
            active=alias.active,
            created_at=alias.created_at,
            updated_at=alias.updated_at,
        )
