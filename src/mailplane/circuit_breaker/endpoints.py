"""A tenant's sending state in the admin API: the circuit breaker's view, its pauses,
and the operator's pause and resume. Tenant admins read their own; only operators pause
and resume (a tenant may not lift the brake the platform put on it)."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from mailplane.api.deps import ClockDep, PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.circuit_breaker import service
from mailplane.circuit_breaker.schemas import PauseCreate, PauseOut, Rate, SendingOut
from mailplane.db.pagination import keyset_page
from mailplane.models import SendingPause
from mailplane.schemas import PageOut
from mailplane.tenants.service import get_tenant

router = APIRouter(prefix="/api/v1/tenants/{tenant_id}/sending", tags=["sending state"],
                   responses=ERRORS)  # fmt: skip


@router.get("", response_model=SendingOut)
def sending_state(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    clock: ClockDep,
    tenant_id: PathId,
) -> SendingOut:
    """The active pause, and the tenant's rates over the breaker's window."""
    tenant = get_tenant(session, principal, tenant_id)
    thresholds = service.Thresholds.of(settings).for_tenant(tenant)
    window = service.window_of(session, tenant.id, clock(), thresholds.window_minutes)
    active = service.active_pause(session, tenant.id)
    return SendingOut(
        tenant_id=tenant.id,
        pause=PauseOut.model_validate(active) if active else None,
        window_minutes=thresholds.window_minutes,
        hard_bounces=Rate(
            rate=window.rate("hard_bounces"), count=window.hard_bounces,
            sample=window.deliveries, threshold=thresholds.hard_bounce_rate,
            min_sample=thresholds.min_sample,
        ),
        complaints=Rate(
            rate=window.rate("complaints"), count=window.complaints,
            sample=window.deliveries, threshold=thresholds.complaint_rate,
            min_sample=thresholds.min_sample,
        ),
        paused_deliveries=service.paused_count(session, tenant.id),
    )  # fmt: skip


@router.get("/pauses", response_model=PageOut[PauseOut])
def list_pauses(
    session: SessionDep, principal: PrincipalDep, page: PageDep, tenant_id: PathId
) -> PageOut[PauseOut]:
    """The tenant's pauses, newest first (active and resumed)."""
    tenant = get_tenant(session, principal, tenant_id)
    result = keyset_page(
        session,
        select(SendingPause).where(SendingPause.tenant_id == tenant.id),
        SendingPause.id,
        limit=page.limit,
        cursor=page.cursor,
        newest_first=True,
    )
    return PageOut(
        items=[PauseOut.model_validate(p) for p in result.items], next_cursor=result.next_cursor
    )


@router.post("/pause", response_model=PauseOut, status_code=status.HTTP_201_CREATED)
def pause_sending(
    session: SessionDep,
    principal: WriterDep,
    clock: ClockDep,
    tenant_id: PathId,
    body: PauseCreate,
) -> PauseOut:
    """Operators: hold the tenant's bulk mail (``all``: its transactional mail too)."""
    # Another tenant's state does not exist (404) before this one's is forbidden (403).
    tenant = get_tenant(session, principal, tenant_id)
    principal.require_platform()
    row = service.pause(
        session, principal, tenant.id, scope=body.scope, trigger="operator", now=clock(),
        detail={"reason": body.reason} if body.reason else {},
    )  # fmt: skip
    return PauseOut.model_validate(row)


@router.post("/resume", response_model=PauseOut)
def resume_sending(
    session: SessionDep, principal: WriterDep, clock: ClockDep, tenant_id: PathId
) -> PauseOut:
    """Operators: end the active pause and release every paused delivery."""
    tenant = get_tenant(session, principal, tenant_id)
    principal.require_platform()
    return PauseOut.model_validate(service.resume(session, principal, tenant.id, clock()))
