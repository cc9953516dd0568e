"""Outbound route routes of the admin API: platform operators only (tenant admins get
403 ``platform_only``)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy.orm import Session

from mailplane.api.deps import PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.models import OutboundRoute, utcnow
from mailplane.outbound_routes import service
from mailplane.outbound_routes.schemas import RouteCreate, RouteOut, RouteUpdate, WarmUp
from mailplane.schemas import PageOut

router = APIRouter(prefix="/api/v1", tags=["outbound routes"], responses=ERRORS)


def _out(session: Session, rows: list[OutboundRoute]) -> list[RouteOut]:
    progress = service.progress(session, rows, utcnow())
    answers = []
    for row in rows:
        now = progress[row.id]
        answers.append(
            RouteOut(
                id=row.id,
                name=row.name,
                source_ip=row.source_ip,
                relay_host=row.relay_host,
                relay_port=row.relay_port,
                relay_tls=row.relay_tls,
                relay_username=row.relay_username,
                relay_password_set=row.relay_password is not None,
                helo_name=row.helo_name,
                enabled=row.enabled,
                accepts_retries=row.accepts_retries,
                plan=row.plan,
                plan_started_at=row.plan_started_at,
                warm_up=WarmUp(
                    established=now.state.established,
                    age_days=now.state.age_days,
                    share_percent=now.state.percent,
                    types_allowed=sorted(now.state.types),
                    daily_cap=now.state.cap,
                    today_count=now.today_count,
                ),
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
        )
    return answers


@router.get("/outbound-routes", response_model=PageOut[RouteOut])
def list_routes(session: SessionDep, principal: PrincipalDep, page: PageDep) -> PageOut[RouteOut]:
    result = service.list_routes(session, principal, limit=page.limit, cursor=page.cursor)
    return PageOut(items=_out(session, result.items), next_cursor=result.next_cursor)


@router.post("/outbound-routes", response_model=RouteOut, status_code=status.HTTP_201_CREATED)
def create_route(
    session: SessionDep, settings: SettingsDep, principal: WriterDep, body: RouteCreate
) -> RouteOut:
    """The source address must be one of this machine's (422 ``source_ip_not_local``)."""
    return _out(session, [service.create(session, settings, principal, body)])[0]


@router.get("/outbound-routes/{route_id}", response_model=RouteOut)
def get_route(session: SessionDep, principal: PrincipalDep, route_id: PathId) -> RouteOut:
    """With its warm-up now: age, today's share, types and cap, today's count."""
    return _out(session, [service.get(session, principal, route_id)])[0]


@router.patch("/outbound-routes/{route_id}", response_model=RouteOut)
def update_route(
    session: SessionDep,
    settings: SettingsDep,
    principal: WriterDep,
    route_id: PathId,
    body: RouteUpdate,
) -> RouteOut:
    return _out(session, [service.update(session, settings, principal, route_id, body)])[0]


@router.delete("/outbound-routes/{route_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_route(session: SessionDep, principal: WriterDep, route_id: PathId) -> Response:
    service.delete(session, principal, route_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
