"""Who is asking. Every service takes a Principal and scopes its queries with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from mailplane.errors import Forbidden, NotFound
from mailplane.models.base import Base

Owned = TypeVar("Owned", bound=Base)

SCOPES = frozenset({"admin", "read"})


@dataclass(frozen=True)
class Principal:
    kind: Literal["service_token", "tenant_admin", "system"]
    id: int | None
    name: str
    # None: platform-wide (service tokens, the system itself); else the one tenant it owns.
    tenant_id: int | None
    scopes: frozenset[str]

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None

    def require_write(self) -> None:
        if "admin" not in self.scopes:
            raise Forbidden("this credential may only read", code="insufficient_scope")

    def require_platform(self) -> None:
        if not self.is_platform:
            raise Forbidden(
                "only platform operators (service tokens) may do this", code="platform_only"
            )

    def tenant_filter(self, column: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
        """The WHERE clause that keeps a tenant principal inside its own tenant."""
        if self.tenant_id is None:
            return true()
        return column == self.tenant_id

    def check_tenant(self, tenant_id: int, what: str = "object") -> None:
        """Another tenant's object does not exist as far as this principal can tell."""
        if self.tenant_id is not None and self.tenant_id != tenant_id:
            raise NotFound(f"{what} not found")


SYSTEM = Principal(kind="system", id=None, name="system", tenant_id=None, scopes=SCOPES)


def get_owned(
    session: Session, principal: Principal, model: type[Owned], object_id: int, what: str
) -> Owned:
    """The row of ``model`` with this id, if the principal's tenant owns it; else NotFound.

    The tenant filter is part of the query itself, so another tenant's row is never loaded.
    """
    id_column = getattr(model, "id")  # noqa: B009 (every owned model has these columns)
    tenant_column = getattr(model, "tenant_id")  # noqa: B009
    row = session.scalar(
        select(model).where(id_column == object_id, principal.tenant_filter(tenant_column))
    )
    if row is None:
        raise NotFound(f"{what} not found")
    return row
