"""Sending statistics in the admin API: per domain and per tenant, by hour or day."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from mailplane.api.deps import PrincipalDep, SessionDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.domains.service import get_domain
from mailplane.models import DeliveryStat
from mailplane.schemas import ResponseModel
from mailplane.statistics.service import Granularity, Series, series
from mailplane.tenants.service import get_tenant

router = APIRouter(prefix="/api/v1", tags=["statistics"], responses=ERRORS)


class Counts(ResponseModel):
    sent: int = Field(description="Recipients accepted into the queue (emailsSent).")
    delivered: int
    deferred: int = Field(description="Deferrals: each retry of each delivery counts.")
    bounced_hard: int
    bounced_soft: int
    suppressed: int
    failed: int


class Bucket(Counts):
    start: datetime


class StatsOut(ResponseModel):
    granularity: Granularity
    since: datetime
    until: datetime = Field(description="Exclusive.")
    emailsSent: int = Field(description="The seed's name for totals.sent.")  # noqa: N815
    lastSentAt: datetime | None = Field(  # noqa: N815
        description="When a recipient was last accepted for delivery (ever)."
    )
    totals: Counts
    buckets: list[Bucket]

    @classmethod
    def of(cls, found: Series) -> StatsOut:
        return cls(
            granularity=found.granularity,
            since=found.since,
            until=found.until,
            emailsSent=found.totals["sent"],
            lastSentAt=found.last_sent_at,
            totals=Counts(**found.totals),
            buckets=[Bucket(**b) for b in found.buckets],
        )


GranularityQuery = Annotated[Granularity, Query()]
Since = Annotated[datetime | None, Query(description="Default: a day (hours) or 30 days.")]
Until = Annotated[datetime | None, Query(description="Exclusive; default: now.")]


@router.get("/mail/domains/{domain_id}/stats", response_model=StatsOut)
def domain_stats(
    session: SessionDep,
    principal: PrincipalDep,
    domain_id: PathId,
    granularity: GranularityQuery = "hour",
    since: Since = None,
    until: Until = None,
) -> StatsOut:
    domain = get_domain(session, principal, domain_id)
    scope = (DeliveryStat.tenant_id == domain.tenant_id) & (DeliveryStat.domain_id == domain.id)
    return StatsOut.of(series(session, scope, granularity, since, until))


@router.get("/tenants/{tenant_id}/stats", response_model=StatsOut)
def tenant_stats(
    session: SessionDep,
    principal: PrincipalDep,
    tenant_id: PathId,
    granularity: GranularityQuery = "hour",
    since: Since = None,
    until: Until = None,
) -> StatsOut:
    tenant = get_tenant(session, principal, tenant_id)
    return StatsOut.of(
        series(session, DeliveryStat.tenant_id == tenant.id, granularity, since, until)
    )
