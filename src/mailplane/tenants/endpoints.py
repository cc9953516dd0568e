from __future__ import annotations

from fastapi import APIRouter, Response, status

from mailplane.api.deps import PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.schemas import PageOut
from mailplane.tenants import service
from mailplane.tenants.schemas import (
    TenantAdminCreate,
    TenantAdminOut,
    TenantCreate,
    TenantOut,
    TenantUpdate,
    TenantUsageReport,
)

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"], responses=ERRORS)


@router.get("", response_model=PageOut[TenantOut])
def list_tenants(session: SessionDep, principal: PrincipalDep, page: PageDep) -> PageOut[TenantOut]:
    result = service.list_tenants(session, principal, limit=page.limit, cursor=page.cursor)
    return PageOut(
        items=[TenantOut.model_validate(t) for t in result.items], next_cursor=result.next_cursor
    )


@router.post("", response_model=TenantOut, status_code=status.HTTP_201_CREATED)
def create_tenant(session: SessionDep, principal: WriterDep, body: TenantCreate) -> TenantOut:
    return TenantOut.model_validate(service.create_tenant(session, principal, body))


@router.get("/{tenant_id}", response_model=TenantOut)
def get_tenant(session: SessionDep, principal: PrincipalDep, tenant_id: PathId) -> TenantOut:
    return TenantOut.model_validate(service.get_tenant(session, principal, tenant_id))


@router.get("/{tenant_id}/usage", response_model=TenantUsageReport)
def tenant_usage(
    session: SessionDep, principal: PrincipalDep, tenant_id: PathId
) -> TenantUsageReport:
    """The limits the operator set and what the tenant uses of them."""
    return TenantUsageReport.model_validate(service.usage_report(session, principal, tenant_id))


@router.patch("/{tenant_id}", response_model=TenantOut)
def update_tenant(
    session: SessionDep, principal: WriterDep, tenant_id: PathId, body: TenantUpdate
) -> TenantOut:
    return TenantOut.model_validate(service.update_tenant(session, principal, tenant_id, body))


@router.delete("/{tenant_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_tenant(session: SessionDep, principal: WriterDep, tenant_id: PathId) -> Response:
    service.delete_tenant(session, principal, tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{tenant_id}/admins", response_model=PageOut[TenantAdminOut])
def list_admins(
    session: SessionDep, principal: PrincipalDep, tenant_id: PathId, page: PageDep
) -> PageOut[TenantAdminOut]:
    result = service.list_admins(
        session, principal, tenant_id, limit=page.limit, cursor=page.cursor
    )
    return PageOut(
        items=[TenantAdminOut.model_validate(a) for a in result.items],
        next_cursor=result.next_cursor,
    )


@router.post(
    "/{tenant_id}/admins", response_model=TenantAdminOut, status_code=status.HTTP_201_CREATED
)
def create_admin(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    tenant_id: PathId,
    body: TenantAdminCreate,
) -> TenantAdminOut:
    return TenantAdminOut.model_validate(
        service.create_admin(session, principal, settings, tenant_id, body)
    )


@router.delete("/{tenant_id}/admins/{admin_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_admin(
    session: SessionDep, principal: WriterDep, tenant_id: PathId, admin_id: PathId
) -> Response:
    service.delete_admin(session, principal, tenant_id, admin_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
