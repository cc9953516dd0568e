"""Spam complaints in the admin API: a tenant admin lists its own tenant's, an operator
every tenant's (or one, with ``tenant_id``). Unmatched reports (tenant NULL) are listed to
operators only."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import select

from mailplane.api.deps import PrincipalDep, SessionDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import OptionalQueryId
from mailplane.api.responses import ERRORS
from mailplane.db.pagination import keyset_page
from mailplane.models import Complaint
from mailplane.schemas import PageOut, ResponseModel

router = APIRouter(prefix="/api/v1/complaints", tags=["complaints"], responses=ERRORS)


class ComplaintOut(ResponseModel):
    id: int
    tenant_id: int | None = Field(description="null: the report matched no delivery.")
    delivery_id: int | None
    message_id: str | None
    recipient: str
    feedback_type: str = Field(description="abuse, fraud, virus, other, not-spam, ...")
    user_agent: str
    reporter: str
    arrival_date: datetime | None
    received_at: datetime


@router.get("", response_model=PageOut[ComplaintOut])
def list_complaints(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    tenant_id: OptionalQueryId = None,
) -> PageOut[ComplaintOut]:
    """Newest first."""
    query = select(Complaint).where(principal.tenant_filter(Complaint.tenant_id))
    if tenant_id is not None:
        query = query.where(Complaint.tenant_id == tenant_id)
    result = keyset_page(
        session, query, Complaint.id, limit=page.limit, cursor=page.cursor, newest_first=True
    )
    return PageOut(
        items=[ComplaintOut.model_validate(c) for c in result.items],
        next_cursor=result.next_cursor,
    )
