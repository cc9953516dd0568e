"""Publishing a domain's records through its DNS automation. Services flush; callers
commit, and call the network (``publish_records``, ``remove_records``) only after their
commit, never inside a transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import Principal
from mailplane.config import Settings
from mailplane.domains.records import records_for
from mailplane.models import DkimKey, Domain
from mailplane.protocols.dns import publishers
from mailplane.protocols.dns.publishers import Publication
from mailplane.protocols.dns.records import DnsRecord


def all_records(session: Session, settings: Settings, domain: Domain) -> list[DnsRecord]:
    keys = list(session.scalars(select(DkimKey).where(DkimKey.domain_id == domain.id)))
    return records_for(domain, keys, settings)


def publish_records(settings: Settings, domain: Domain, records: list[DnsRecord]) -> Publication:
    """Network: call after commit. Never raises; the result is reported and audited."""
    return publishers.publish(
        settings, domain.dns_automation, domain.name, domain.dns_settings or {}, records
    )


def remove_records(settings: Settings, domain: Domain, records: list[DnsRecord]) -> Publication:
    """Network: call after commit. Deletes exactly the records mailplane published."""
    return publishers.remove(
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
