"""Throttles in the admin API: operators create, change and delete them; tenant admins
read the ones that concern their tenant (``service.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy.orm import Session

from mailplane.api.deps import PrincipalDep, SessionDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.auth.principals import Principal
from mailplane.models import ThrottleLimit
from mailplane.schemas import PageOut
from mailplane.throttling import service
from mailplane.throttling.schemas import (
    KeyUsage,
    ThrottleCreate,
    ThrottleOut,
    ThrottleUpdate,
    UsageOut,
)

router = APIRouter(prefix="/api/v1/throttles", tags=["throttles"], responses=ERRORS)


def _out(session: Session, principal: Principal, rows: list[ThrottleLimit]) -> list[ThrottleOut]:
    usage = service.usage(session, principal, rows)
    found = []
    for row in rows:
        u = usage[row.id]
        found.append(
            ThrottleOut(
                id=row.id, scope=row.scope, tenant_id=row.tenant_id,
                route_id=row.route_id, name=row.name, domains=list(row.domains),
                mx_hosts=list(row.mx_hosts), per_domain=row.per_domain, rate=row.rate,
                period_seconds=row.period_seconds, burst=row.burst,
                created_at=row.created_at, updated_at=row.updated_at,
                usage=UsageOut(
                    used=u.used, limit=u.limit, remaining=u.remaining,
                    period_seconds=u.period_seconds, waiting=u.waiting,
                    keys=[
                        KeyUsage(key=k.key, used=k.used, remaining=max(0, u.limit - k.used))
                        for k in u.keys
                    ],
                ),
            )
        )  # fmt: skip
    return found


@router.get("", response_model=PageOut[ThrottleOut])
def list_throttles(
    session: SessionDep, principal: PrincipalDep, page: PageDep
) -> PageOut[ThrottleOut]:
    """Operators: every limit. Tenant admins: the global ones, the default tenant limit
    and their own tenant's."""
    result = service.list_limits(session, principal, limit=page.limit, cursor=page.cursor)
    return PageOut(items=_out(session, principal, result.items), next_cursor=result.next_cursor)


@router.post("", response_model=ThrottleOut, status_code=status.HTTP_201_CREATED)
def create_throttle(session: SessionDep, principal: WriterDep, body: ThrottleCreate) -> ThrottleOut:
    row = service.create(session, principal, body)
    return _out(session, principal, [row])[0]


@router.get("/{throttle_id}", response_model=ThrottleOut)
def get_throttle(session: SessionDep, principal: PrincipalDep, throttle_id: PathId) -> ThrottleOut:
    return _out(session, principal, [service.get(session, principal, throttle_id)])[0]


@router.patch("/{throttle_id}", response_model=ThrottleOut)
def update_throttle(
    session: SessionDep, principal: WriterDep, throttle_id: PathId, body: ThrottleUpdate
) -> ThrottleOut:
    row = service.update(session, principal, throttle_id, body)
    return _out(session, principal, [row])[0]


@router.delete("/{throttle_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_throttle(session: SessionDep, principal: WriterDep, throttle_id: PathId) -> Response:
    service.remove(session, principal, throttle_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
