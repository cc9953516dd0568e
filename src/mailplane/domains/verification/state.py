"""Domain verification: the state machine, and applying a check report to a domain.

States (``Domain.verification_status``)::

    pending ──ok──► verified ──broken──► failing ──grace passed──► sending_disabled
       ▲                ▲                   │                          │
       └─ (never verified: stays pending)   └──────────ok──────────────┘──► verified

Only the decisive checks (MX, SPF, DKIM) move it; an inconclusive report (a DNS outage on
our side) changes nothing. A domain may send while verified or failing (inside the grace
period), never while pending or sending_disabled, and never before its ownership is proven.

Ownership is proven once and kept: the same report carries an ``ownership`` check for the
domain and for each of its alias domains not yet proven, and a passing one sets ``owned_at``
(the mail views then route the name). It is not withdrawn when DNS changes later: the
domain's mail would bounce while its records are being moved.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import SYSTEM, Principal
from mailplane.config import Settings
from mailplane.dkim.rotation import switch_signing_key
from mailplane.domains.claims import foreign_owner_above
from mailplane.domains.records import records_for
from mailplane.domains.verification.checks import (
    Check,
    Outcome,
    Report,
    check_ownership,
    run_checks,
)
from mailplane.models import AliasDomain, DkimKey, Domain
from mailplane.models.statuses import OwnershipMethod, Status, VerificationStatus
from mailplane.protocols.dns.records import DnsRecord
from mailplane.protocols.dns.resolver import DnsClient

SENDING_STATES = frozenset({VerificationStatus.VERIFIED, VerificationStatus.FAILING})


def can_send(domain: Domain) -> bool:
    """Whether the send API may accept mail from this domain now."""
    return (
        domain.status == Status.ACTIVE
        and domain.owned_at is not None
        and domain.verification_status in SENDING_STATES
    )


@dataclass(frozen=True)
class Transition:
    state: str
    failing_since: datetime | None


def next_state(
    current: str, outcome: Outcome, failing_since: datetime | None, now: datetime, grace: timedelta
) -> Transition:
    """The pure state machine; see the module docstring."""
    if outcome == "inconclusive":
        return Transition(current, failing_since)
    if outcome == "ok":
        return Transition(VerificationStatus.VERIFIED, None)
    if current == VerificationStatus.PENDING:
        return Transition(VerificationStatus.PENDING, None)
    started = failing_since or now
    if current == VerificationStatus.SENDING_DISABLED or now - started >= grace:
        return Transition(VerificationStatus.SENDING_DISABLED, started)
    return Transition(VerificationStatus.FAILING, started)


@dataclass(frozen=True)
class KeySnapshot:
    """A DKIM key detached from the session, so DNS work runs outside any transaction."""

    id: int
    selector: str
    algorithm: str
    public_key_b64: str
    status: str


@dataclass(frozen=True)
class Claim:
    """A domain or alias domain whose ownership is not proven yet."""

    kind: str  # "domain" | "alias_domain"
    id: int
    name: str
    token: str


@dataclass(frozen=True)
class DomainSnapshot:
    id: int
    name: str
    keys: list[KeySnapshot]
    expected: list[DnsRecord]
    claims: list[Claim]


def unproven_alias_domains(domain_ids: list[int]) -> Select[AliasDomain]:
    return select(AliasDomain).where(
        AliasDomain.domain_id.in_(domain_ids), AliasDomain.owned_at.is_(None)
    )


def snapshot(
    session: Session,
    settings: Settings,
    domain: Domain,
    keys: list[DkimKey] | None = None,
    unproven_aliases: list[AliasDomain] | None = None,
) -> DomainSnapshot:
    if keys is None:
        keys = list(
            session.scalars(
                select(DkimKey).where(DkimKey.domain_id == domain.id).order_by(DkimKey.id)
            )
        )
    claims = []
    if domain.owned_at is None:
        claims.append(Claim("domain", domain.id, domain.name, domain.ownership_token))
    if unproven_aliases is None:
        unproven_aliases = list(
            session.scalars(unproven_alias_domains([domain.id]).order_by(AliasDomain.id))
        )
    claims += [
        Claim("alias_domain", a.id, a.name, a.ownership_token)
        for a in unproven_aliases
        if a.owned_at is None
    ]
    return DomainSnapshot(
        id=domain.id,
        name=domain.name,
        keys=[KeySnapshot(k.id, k.selector, k.algorithm, k.public_key_b64, k.status) for k in keys],
        expected=records_for(domain, keys, settings),
        claims=claims,
    )


def check(dns: DnsClient, settings: Settings, snap: DomainSnapshot) -> Report:
    """Ask DNS. No database access: safe to run in worker threads."""
    report = run_checks(dns, settings, snap.name, list(snap.keys), snap.expected)
    for claim in snap.claims:
        found = check_ownership(dns, claim.name, settings, claim.token)
        found.details.update(kind=claim.kind, id=claim.id)
        report.checks.append(found)
    return report


def _apply_ownership(
    session: Session, domain: Domain, check: Check, now: datetime, principal: Principal
) -> None:
    """Record a passing ownership check on its row, unless that would take another tenant's
    name: a wildcard MX of a parent another tenant proved must not hand out its subdomains."""
    row: Domain | AliasDomain | None
    if check.details.get("kind") == "alias_domain":
        row = session.get(AliasDomain, check.details.get("id"))
        if row is not None and row.domain_id != domain.id:
            return
    else:
        row = domain if check.details.get("id") == domain.id else None
    if row is None or row.owned_at is not None:
        return
    if foreign_owner_above(session, row.name, row.tenant_id):
        check.status = "error"
        check.hint = f"{row.name} is under a domain another customer has proven to own."
        return
    row.owned_at = now
    row.ownership_method = OwnershipMethod(check.details["method"])
    record(
        session,
        principal,
        f"{check.details['kind']}.ownership_proven",
        object_type=str(check.details["kind"]),
        object_id=row.id,
        tenant_id=row.tenant_id,
        details={"name": row.name, "method": row.ownership_method},
        event=f"{check.details['kind']}.ownership_proven",
        at=now,
    )


def next_check_at(settings: Settings, state: str, now: datetime) -> datetime:
    """Spread re-checks: the interval varies by +-jitter so domains do not bunch up."""
    minutes = (
        settings.verification_interval_minutes
        if state == VerificationStatus.VERIFIED
        else settings.verification_failing_interval_minutes
    )
    jitter = settings.verification_jitter_fraction
    factor = 1 + random.uniform(-jitter, jitter)  # noqa: S311 (spreading load, not secrecy)
    return now + timedelta(minutes=minutes * factor)


def apply_report(
    session: Session,
    settings: Settings,
    domain: Domain,
    report: Report,
    now: datetime,
    principal: Principal = SYSTEM,
) -> None:
    """Record the report on the domain and move the state machine. Flushes only."""
    domain.last_checked_at = now
    for found in report.checks:
        if found.check == "ownership" and found.status == "ok":
            _apply_ownership(session, domain, found, now, principal)
    domain.last_check_report = {**report.as_dict(), "checked_at": now.isoformat()}
    if report.dkim_ready_selector and report.outcome != "inconclusive":
        switch_signing_key(session, settings, domain, report.dkim_ready_selector, now, principal)
    old = domain.verification_status
    transition = next_state(
        old,
        report.outcome,
        domain.failing_since,
        now,
        timedelta(hours=settings.verification_grace_hours),
    )
    domain.failing_since = transition.failing_since
    domain.next_check_at = next_check_at(settings, transition.state, now)
    if transition.state != old:
        domain.verification_status = transition.state
        if transition.state == VerificationStatus.VERIFIED:
            domain.verified_at = now
        failed = [c.check for c in report.checks if c.decisive and c.status == "error"]
        details = {"from": old, "to": transition.state, "failed_checks": failed}
        record(
            session,
            principal,
            "domain.verification_changed",
            object_type="domain",
            object_id=domain.id,
            tenant_id=domain.tenant_id,
            details={"domain": domain.name, **details},
            event="domain.verification_changed",
            at=now,
        )
    session.flush()


def verify(
    session: Session,
    settings: Settings,
    domain: Domain,
    now: datetime,
    principal: Principal = SYSTEM,
    dns: DnsClient | None = None,
) -> Report:
    """Check one domain and apply the result, in the caller's transaction (CLI, tests)."""
    report = check(
        dns or DnsClient.from_settings(settings), settings, snapshot(session, settings, domain)
    )
    apply_report(session, settings, domain, report, now, principal)
    return report
