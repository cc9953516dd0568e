"""Asking DNS whether a domain is set up, and the last answer.

``verify`` talks to DNS servers. It commits what it read *before* the network call, so
that no database lock (SQLite's writer lock above all) is held while a DNS server takes
its time, and re-reads the domain afterwards.
"""

from __future__ import annotations

from fastapi import APIRouter

from mailplane.api.deps import ClockDep, PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.audit.service import record
from mailplane.domains.service import get_domain
from mailplane.domains.verification.schemas import CheckOut, VerificationOut
from mailplane.domains.verification.state import apply_report, can_send, check, snapshot
from mailplane.models.statuses import VerificationStatus
from mailplane.protocols.dns.resolver import DnsClient

router = APIRouter(prefix="/api/v1/mail", tags=["dns"], responses=ERRORS)


@router.post("/domains/{domain_id}/verify", response_model=VerificationOut)
def verify_domain(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    clock: ClockDep,
    domain_id: PathId,
) -> VerificationOut:
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
    return VerificationOut(
        domain_id=domain.id,
        domain=domain.name,
        last_checked_at=domain.last_checked_at,
        outcome=report.outcome,
        verification_status=VerificationStatus(domain.verification_status),
        failing_since=domain.failing_since,
        verified_at=domain.verified_at,
        can_send=can_send(domain),
        checks=[CheckOut.model_validate(c) for c in report.as_dict()["checks"]],
    )


@router.get("/domains/{domain_id}/verification", response_model=VerificationOut)
def last_verification(
    session: SessionDep, principal: PrincipalDep, domain_id: PathId
) -> VerificationOut:
    """The state and the report of the last check (by the endpoint or the periodic run),
    without asking DNS. Before the first check, `outcome` is null and `checks` empty."""
    domain = get_domain(session, principal, domain_id)
    report = domain.last_check_report or {}
    return VerificationOut(
        domain_id=domain.id,
        domain=domain.name,
        outcome=report.get("outcome"),
        verification_status=VerificationStatus(domain.verification_status),
        failing_since=domain.failing_since,
        verified_at=domain.verified_at,
        last_checked_at=domain.last_checked_at,
        can_send=can_send(domain),
        checks=[CheckOut.model_validate(c) for c in report.get("checks", [])],
    )
