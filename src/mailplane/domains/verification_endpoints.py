"""Verification, DKIM rotation and record publication for one domain.

These endpoints talk to DNS servers. They commit what they read or wrote *before* the
network call, so that no database lock (SQLite's writer lock above all) is held while a
DNS server takes its time, and re-read the domain afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, status

from mailplane.api.deps import PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.audit.service import record
from mailplane.dns import service as dns_service
from mailplane.dns.resolver import DnsClient
from mailplane.dns.verification import apply_report, can_send, check, snapshot
from mailplane.domains.endpoints import dkim_out
from mailplane.domains.service import get_domain
from mailplane.domains.verification_schemas import PublishOut, RotateIn, RotateOut, VerificationOut
from mailplane.models import utcnow

router = APIRouter(prefix="/api/v1/mail", tags=["dns"], responses=ERRORS)

# An id no row can have never reaches the database (PostgreSQL: "integer out of range").


def get_clock(request: Request) -> Callable[[], datetime]:
    """``app.state.clock`` when set (tests move time with it), else the wall clock."""
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
    return clock


ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]


@router.post("/domains/{domain_id}/verify", response_model=VerificationOut)
def verify_domain(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    clock: ClockDep,
    domain_id: PathId,
) -> dict[str, Any]:
    """Ask DNS now; report every record (expected, found, status, hint) and move the state:
    pending -> verified -> failing -> sending_disabled (after the grace period) -> verified."""
    snap = snapshot(session, settings, get_domain(session, principal, domain_id))
    session.commit()
    report = check(DnsClient.from_settings(settings), settings, snap)
    domain = get_domain(session, principal, domain_id)
    session.refresh(domain)
    before = domain.verification_status
    apply_report(session, settings, domain, report, clock(), principal)
    # Asked for by someone: always in the audit log, whatever the outcome.
    record(
        session,
        principal,
        "domain.verify",
        object_type="domain",
        object_id=domain.id,
        tenant_id=domain.tenant_id,
        details={
            "domain": domain.name,
            "outcome": report.outcome,
            "from": before,
            "to": domain.verification_status,
        },
    )
    return {
        "domain_id": domain.id,
        "domain": domain.name,
        "last_checked_at": domain.last_checked_at,
        "outcome": report.outcome,
        "verification_status": domain.verification_status,
        "failing_since": domain.failing_since,
        "verified_at": domain.verified_at,
        "can_send": can_send(domain),
        "checks": report.as_dict()["checks"],
    }


@router.get("/domains/{domain_id}/verification", response_model=VerificationOut)
def last_verification(
    session: SessionDep, principal: PrincipalDep, domain_id: PathId
) -> dict[str, Any]:
    """The state and the report of the last check (by the endpoint or the periodic run),
    without asking DNS. Before the first check, `outcome` is null and `checks` empty."""
    domain = get_domain(session, principal, domain_id)
    report = domain.last_check_report or {}
    return {
        "domain_id": domain.id,
        "domain": domain.name,
        "outcome": report.get("outcome"),
        "verification_status": domain.verification_status,
        "failing_since": domain.failing_since,
        "verified_at": domain.verified_at,
        "last_checked_at": domain.last_checked_at,
        "can_send": can_send(domain),
        "checks": report.get("checks", []),
    }


@router.post(
    "/domains/{domain_id}/dkim/rotate",
    response_model=RotateOut,
    status_code=status.HTTP_201_CREATED,
)
def rotate_dkim(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    clock: ClockDep,
    domain_id: PathId,
    body: Annotated[RotateIn, Body()] = RotateIn(),
) -> dict[str, Any]:
    """Create a new key under a new selector as `pending` and publish it (or show it, for
    manual DNS). Signing switches to it once a verification finds it in DNS; the old key
    then retires after `dkim_retire_after_hours`."""
    domain, key = dns_service.rotate(
        session, principal, settings, domain_id, body.algorithm, clock()
    )
    dns_record = dns_service.key_record(domain, key)
    session.commit()
    publication = dns_service.publish_records(settings, domain, [dns_record])
    dns_service.audit_publication(session, principal, domain, publication)
    return {
        **dkim_out(domain, key),
        "dns_record": dns_record.as_dict(),
        "publication": publication.as_dict(),
    }


@router.post("/domains/{domain_id}/dns/publish", response_model=PublishOut)
def publish_dns(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, domain_id: PathId
) -> dict[str, Any]:
    """(Re)publish every record of the domain through its DNS automation."""
    domain = get_domain(session, principal, domain_id)
    records = dns_service.all_records(session, settings, domain)
    session.commit()
    publication = dns_service.publish_records(settings, domain, records)
    dns_service.audit_publication(session, principal, domain, publication)
    return {"publication": publication.as_dict(), "records": [r.as_dict() for r in records]}
