from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from mailplane.api.deps import PrincipalDep, SessionDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import OptionalQueryId
from mailplane.api.responses import ERRORS
from mailplane.audit import service
from mailplane.audit.schemas import AuditEventOut
from mailplane.schemas import NO_CONTROL, PageOut

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=ERRORS)


@router.get("", response_model=PageOut[AuditEventOut])
def list_events(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL)] = None,
    object_type: Annotated[str | None, Query(max_length=32, pattern=NO_CONTROL)] = None,
    customer_id: OptionalQueryId = None,
    order: Literal["newest", "oldest"] = "newest",
) -> PageOut[AuditEventOut]:
    """Every admin change: who did what to which object, and when. Newest first by default
    (`order=oldest` for the other way); `next_cursor` continues in the same order."""
    result = service.list_events(
        session,
        principal,
        limit=page.limit,
        cursor=page.cursor,
        action=action,
        object_type=object_type,
        tenant_id=customer_id,
        newest_first=order == "newest",
    )
    return PageOut(
        items=[AuditEventOut.model_validate(e) for e in result.items],
        next_cursor=result.next_cursor,
    )
