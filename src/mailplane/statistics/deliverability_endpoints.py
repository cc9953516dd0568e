"""The deliverability report in the admin API, per tenant and per domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from mailplane.api.deps import PrincipalDep, SessionDep, get_clock
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.domains.service import get_domain
from mailplane.schemas import ResponseModel
from mailplane.statistics.deliverability import Period, Report, Tally, report, top_destinations
from mailplane.tenants.service import get_tenant

router = APIRouter(prefix="/api/v1", tags=["statistics"], responses=ERRORS)


class Figures(ResponseModel):
    sent: int = Field(description="Deliveries settled after an attempt in the period.")
    delivered: int
    bounced_hard: int
    bounced_soft: int
    failed: int
    complaints: int = Field(description="Spam complaints (ARF reports) received.")
    delivery_rate: float | None
    bounce_rate: float | None
    hard_bounce_rate: float | None
    complaint_rate: float | None = Field(description="complaints / delivered.")

    @classmethod
    def of(cls, tally: Tally) -> Figures:
        return cls(
            sent=tally.sent,
            delivered=tally.delivered,
            bounced_hard=tally.bounced_hard,
            bounced_soft=tally.bounced_soft,
            failed=tally.failed,
            complaints=tally.complaints,
            **tally.rates,
        )


class DestinationFigures(Figures):
    destination: str = Field(description="The recipient domain, or (other) for the rest.")


class RouteFigures(Figures):
    route_id: int | None = Field(description="None: the platform's default way out.")
    route: str


class PeriodOut(ResponseModel):
    since: datetime
    totals: Figures
    by_destination: list[DestinationFigures]
    by_route: list[RouteFigures]


class BreakerOut(ResponseModel):
    paused: bool
    pause_id: int | None = None
    scope: str | None = Field(default=None, description="bulk or all.")
    trigger: str | None = None
    since: datetime | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class DeliverabilityOut(ResponseModel):
    tenant_id: int
    domain_id: int | None
    at: datetime
    periods: dict[str, PeriodOut] = Field(description="24h and 7d.")
    breaker: BreakerOut


def _period(found: Period, names: dict[int, str]) -> PeriodOut:
    return PeriodOut(
        since=found.since,
        totals=Figures.of(found.totals),
        by_destination=[
            DestinationFigures(destination=name, **Figures.of(tally).model_dump())
            for name, tally in top_destinations(found)
        ],
        by_route=[
            RouteFigures(
                route_id=route_id,
                route="default" if route_id is None else names.get(route_id, f"#{route_id}"),
                **Figures.of(tally).model_dump(),
            )
            for route_id, tally in sorted(
                found.by_route.items(), key=lambda item: (-item[1].sent, item[0] or 0)
            )
        ],
    )


def _out(found: Report) -> DeliverabilityOut:
    pause = found.pause
    breaker = (
        BreakerOut(
            paused=True,
            pause_id=pause.id,
            scope=pause.scope,
            trigger=pause.trigger,
            since=pause.created_at,
            detail=pause.detail,
        )
        if pause is not None
        else BreakerOut(paused=False)
    )
    return DeliverabilityOut(
        tenant_id=found.tenant_id,
        domain_id=found.domain_id,
        at=found.at,
        periods={p.name: _period(p, found.route_names) for p in found.periods},
        breaker=breaker,
    )


@router.get("/tenants/{tenant_id}/deliverability", response_model=DeliverabilityOut)
def tenant_deliverability(
    request: Request, session: SessionDep, principal: PrincipalDep, tenant_id: PathId
) -> DeliverabilityOut:
    """Sent, delivered, bounce and complaint rates over 24 hours and 7 days, by
    destination and by route, with the circuit breaker's state."""
    tenant = get_tenant(session, principal, tenant_id)
    return _out(report(session, tenant.id, None, get_clock(request)()))


@router.get("/mail/domains/{domain_id}/deliverability", response_model=DeliverabilityOut)
def domain_deliverability(
    request: Request, session: SessionDep, principal: PrincipalDep, domain_id: PathId
) -> DeliverabilityOut:
    """The same for the mail sent from one domain (the breaker is the tenant's)."""
    domain = get_domain(session, principal, domain_id)
    return _out(report(session, domain.tenant_id, domain.id, get_clock(request)()))
