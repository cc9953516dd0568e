"""DKIM rotation and record publication for one domain. Services flush; callers commit,
and call the network (``publish_*``) only after their commit, never inside a transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import Principal
from mailplane.config import Settings
from mailplane.dns import automation
from mailplane.dns.automation import Publication
from mailplane.domains import dkim
from mailplane.domains.records import DnsRecord, records_for
from mailplane.domains.service import add_dkim_key, get_domain
from mailplane.errors import Conflict
from mailplane.models import DkimKey, Domain


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
    domain_id: int,
    algorithm: dkim.Algorithm | None,
    now: datetime,
) -> tuple[Domain, DkimKey]:
    """Create the next key as ``pending``; signing switches once DNS serves it."""
    domain = get_domain(session, principal, domain_id)
    keys = list(session.scalars(select(DkimKey).where(DkimKey.domain_id == domain.id)))
    pending = next((k for k in keys if k.status == "pending"), None)
    if pending is not None:
        raise Conflict(
            f"a rotation is already waiting for selector {pending.selector} to appear in DNS; "
            "publish it and verify the domain, or wait for the periodic check",
            code="rotation_pending",
        )
    active = next((k for k in keys if k.status == "active"), None)
    chosen: dkim.Algorithm = algorithm or (
        "ed25519"
        if active is not None and active.algorithm == "ed25519"
        else settings.dkim_algorithm
    )
    selector = new_selector({k.selector for k in keys}, now)
    key = add_dkim_key(session, domain, selector, chosen, "pending")
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
    return domain, key


def key_record(domain: Domain, key: DkimKey) -> DnsRecord:
    return DnsRecord(
        "TXT",
        f"{key.selector}._domainkey.{domain.name}",
        dkim.txt_value(key.algorithm, key.public_key_b64),
        f"DKIM public key ({key.algorithm}, {key.status})",
    )


def all_records(session: Session, settings: Settings, domain: Domain) -> list[DnsRecord]:
    keys = list(session.scalars(select(DkimKey).where(DkimKey.domain_id == domain.id)))
    return records_for(domain, keys, settings)


def publish_records(settings: Settings, domain: Domain, records: list[DnsRecord]) -> Publication:
    """Network: call after commit. Never raises; the result is reported and audited."""
    return automation.publish(
        settings, domain.dns_automation, domain.name, domain.dns_settings or {}, records
    )


def remove_records(settings: Settings, domain: Domain, records: list[DnsRecord]) -> Publication:
    """Network: call after commit. Deletes exactly the records mailplane published."""
    return automation.remove(
        settings, domain.dns_automation, domain.name, domain.dns_settings or {}, records
    )


def audit_publication(
    session: Session, principal: Principal, domain: Domain, publication: Publication
) -> None:
    if publication.mode == "manual":
        return
    record(
        session,
        principal,
        "domain.dns_publish",
        object_type="domain",
        object_id=domain.id,
        tenant_id=domain.tenant_id,
        details={"domain": domain.name, **publication.as_dict()},
    )
