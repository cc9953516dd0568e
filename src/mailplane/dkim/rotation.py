"""The DKIM key life cycle of a domain: create, rotate, switch, retire.

A rotation adds a ``pending`` key; verification switches signing to it once DNS serves it
(``switch_signing_key``), the old key becomes ``retiring`` and, after
``dkim_retire_after_hours`` so that mail in flight still verifies, ``retired`` with its
record removed by DNS automation. Services flush; callers commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import SYSTEM, Principal
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.dkim import keys as dkim_keys
from mailplane.domains import publication
from mailplane.errors import Conflict
from mailplane.models import DkimKey, Domain, utcnow
from mailplane.models.statuses import DkimKeyStatus
from mailplane.protocols.dns.records import DnsRecord


def add_key(
    session: Session, domain: Domain, selector: str, algorithm: dkim_keys.Algorithm, status: str
) -> DkimKey:
    pair = dkim_keys.generate(algorithm)
    key = DkimKey(
        domain_id=domain.id,
        selector=selector,
        algorithm=algorithm,
        private_key_pem=pair.private_key_pem,
        public_key_b64=pair.public_key_b64,
        status=status,
        activated_at=utcnow() if status == DkimKeyStatus.ACTIVE else None,
    )
    session.add(key)
    session.flush()
    return key


def new_selector(taken: set[str], now: datetime) -> str:
    """``mp<yyyymm><n>``: sortable by date, unique per domain, valid as a DNS label."""
    n = 1
    while f"mp{now:%Y%m}{n}" in taken:
        n += 1
    return f"mp{now:%Y%m}{n}"


def rotate(
    session: Session,
    principal: Principal,
    settings: Settings,
    domain: Domain,
    algorithm: dkim_keys.Algorithm | None,
    now: datetime,
) -> DkimKey:
    """Create the next key as ``pending``; signing switches once DNS serves it."""
    keys = list(session.scalars(select(DkimKey).where(DkimKey.domain_id == domain.id)))
    pending = next((k for k in keys if k.status == DkimKeyStatus.PENDING), None)
    if pending is not None:
        raise Conflict(
            f"a rotation is already waiting for selector {pending.selector} to appear in DNS; "
            "publish it and verify the domain, or wait for the periodic check",
            code="rotation_pending",
        )
    active = next((k for k in keys if k.status == DkimKeyStatus.ACTIVE), None)
    chosen: dkim_keys.Algorithm = algorithm or (
        "ed25519"
        if active is not None and active.algorithm == "ed25519"
        else settings.dkim_algorithm
    )
    selector = new_selector({k.selector for k in keys}, now)
    key = add_key(session, domain, selector, chosen, DkimKeyStatus.PENDING)
    details = {"domain": domain.name, "selector": selector, "algorithm": chosen}
    record(
        session,
        principal,
        "dkim.rotate",
        object_type="dkim_key",
        object_id=key.id,
        tenant_id=domain.tenant_id,
        details=details,
        event="dkim.key_created",
        at=now,
    )
    return key


def key_record(domain: Domain, key: DkimKey) -> DnsRecord:
    return DnsRecord(
        "TXT",
        f"{key.selector}._domainkey.{domain.name}",
        dkim_keys.txt_value(key.algorithm, key.public_key_b64),
        f"DKIM public key ({key.algorithm}, {key.status})",
    )


def switch_signing_key(
    session: Session,
    settings: Settings,
    domain: Domain,
    selector: str,
    now: datetime,
    principal: Principal,
) -> None:
    """The pending key is published correctly: sign with it, retire the old one later."""
    keys = list(session.scalars(select(DkimKey).where(DkimKey.domain_id == domain.id)))
    new = next(
        (k for k in keys if k.selector == selector and k.status == DkimKeyStatus.PENDING), None
    )
    if new is None:
        return  # already switched by a concurrent check
    retire_after = now + timedelta(hours=settings.dkim_retire_after_hours)
    retiring = []
    for key in keys:
        if key.status == DkimKeyStatus.ACTIVE:
            key.status, key.retire_after = DkimKeyStatus.RETIRING, retire_after
            retiring.append(key.selector)
        elif key.status == DkimKeyStatus.PENDING and key.id < new.id:
            key.status, key.retired_at = DkimKeyStatus.RETIRED, now  # an older rotation overtaken
    new.status, new.activated_at = DkimKeyStatus.ACTIVE, now
    details = {"domain": domain.name, "selector": selector, DkimKeyStatus.RETIRING: retiring}
    record(
        session,
        principal,
        "dkim.activate",
        object_type="dkim_key",
        object_id=new.id,
        tenant_id=domain.tenant_id,
        details=details,
        event="dkim.key_activated",
        at=now,
    )


def retire_due_keys(settings: Settings, database: Database, now: datetime) -> int:
    """Retiring keys past their delay become retired; with DNS automation, the removal of
    their record is queued in the same transaction (a ``dns.remove`` job)."""
    with database.transaction() as session:
        keys = list(
            session.scalars(
                select(DkimKey).where(
                    DkimKey.status == DkimKeyStatus.RETIRING, DkimKey.retire_after <= now
                )
            )
        )
        for key in keys:
            domain = session.get(Domain, key.domain_id)
            assert domain is not None
            key.status, key.retired_at = DkimKeyStatus.RETIRED, now
            details = {"domain": domain.name, "selector": key.selector}
            record(
                session,
                SYSTEM,
                "dkim.retire",
                object_type="dkim_key",
                object_id=key.id,
                tenant_id=domain.tenant_id,
                details=details,
                event="dkim.key_retired",
                at=now,
            )
            publication.queue_removal(session, SYSTEM, domain, [key_record(domain, key)])
        return len(keys)
