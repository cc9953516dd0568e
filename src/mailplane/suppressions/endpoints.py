"""The suppression list in the admin API: operators and tenant admins, tenant-scoped.

A tenant admin sees and changes its own tenant's list; an operator every list, and names
the tenant (``tenant_id``) when it writes. Another tenant's entry is 404.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mailplane.api.deps import PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import OptionalQueryId, PathId
from mailplane.api.responses import ERRORS
from mailplane.schemas import PageOut
from mailplane.suppressions import service
from mailplane.suppressions.schemas import ImportOut, InvalidLine, SuppressionCreate, SuppressionOut

router = APIRouter(prefix="/api/v1/suppressions", tags=["suppressions"], responses=ERRORS)

ReasonFilter = Literal[
    "hard_bounce", "repeated_soft_bounce", "manual", "import", "unsubscribed", "complaint"
]
AddressQuery = Annotated[str, Query(min_length=3, max_length=320)]


async def _raw_body(request: Request) -> bytes:
    return await request.body()


@router.get("", response_model=PageOut[SuppressionOut])
def list_suppressions(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    tenant_id: OptionalQueryId = None,
    q: Annotated[str | None, Query(max_length=320, description="A part of the address.")] = None,
    reason: ReasonFilter | None = None,
) -> PageOut[SuppressionOut]:
    """Active entries (expired ones no longer suppress), oldest first."""
    result = service.list_suppressions(
        session, principal, limit=page.limit, cursor=page.cursor, tenant_id=tenant_id,
        search=q, reason=reason,
    )  # fmt: skip
    return PageOut(
        items=[SuppressionOut.model_validate(s) for s in result.items],
        next_cursor=result.next_cursor,
    )


@router.post("", response_model=SuppressionOut, status_code=status.HTTP_201_CREATED)
def add_suppression(
    session: SessionDep, principal: WriterDep, body: SuppressionCreate
) -> SuppressionOut:
    row = service.add(
        session, principal, address=body.address, tenant_id=body.tenant_id,
        expires_at=body.expires_at, note=body.note,
    )  # fmt: skip
    return SuppressionOut.model_validate(row)


@router.get("/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_suppressions(
    session: SessionDep, principal: PrincipalDep, tenant_id: OptionalQueryId = None
) -> Response:
    """CSV: address, reason, created_at, expires_at, detail (re-importable)."""
    return Response(
        service.export_csv(session, principal, tenant_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="suppressions.csv"'},
    )


@router.post(
    "/import",
    response_model=ImportOut,
    openapi_extra={
        "requestBody": {
            "content": {
                # Also application/json: a list of addresses, or {"addresses": [...]}.
                "text/csv": {"schema": {"type": "string"}},
            }
        }
    },
)
def import_suppressions(
    session: SessionDep,
    settings: SettingsDep,
    principal: WriterDep,
    request: Request,
    raw: Annotated[bytes, Depends(_raw_body)],
    tenant_id: OptionalQueryId = None,
) -> ImportOut:
    """A CSV (first column, optional header) or a JSON list of addresses; added with
    reason ``import``. Invalid lines are reported, not fatal."""
    content_type = request.headers.get("content-type", "text/csv").lower()
    addresses = service.parse_upload(raw, content_type)
    report = service.import_addresses(session, principal, settings, addresses, tenant_id)
    return ImportOut(
        added=report.added,
        skipped=report.skipped,
        invalid=report.invalid_count,
        invalid_lines=[InvalidLine.model_validate(i) for i in report.invalid],
    )


@router.get("/{suppression_id}", response_model=SuppressionOut)
def get_suppression(
    session: SessionDep, principal: PrincipalDep, suppression_id: PathId
) -> SuppressionOut:
    return SuppressionOut.model_validate(service.get(session, principal, suppression_id))


@router.delete("/{suppression_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_suppression(
    session: SessionDep, principal: WriterDep, suppression_id: PathId
) -> Response:
    service.remove(session, principal, suppression_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def remove_suppressed_address(
    session: SessionDep,
    principal: WriterDep,
    address: AddressQuery,
    tenant_id: OptionalQueryId = None,
) -> Response:
    """By address: ``DELETE /api/v1/suppressions?address=...``."""
    service.remove_address(session, principal, address, tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
