"""Publishing a domain's records through its DNS automation, as jobs.

A change that needs DNS work (a domain created or reconfigured, a DKIM key added or
retired, a domain deleted) enqueues a ``dns.publish`` or ``dns.remove`` job in its own
transaction; the job runner calls the DNS server after that commit and audits the outcome
(``domain.dns_publish``) in a transaction of its own (``publication_jobs.py``). No request
waits for a DNS server, and none holds the database while one answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import Principal
from mailplane.config import Settings
from mailplane.domains.records import records_for
from mailplane.jobs.queue import enqueue_job, latest_for
from mailplane.models import DkimKey, Domain, Job
from mailplane.protocols.dns.records import DnsRecord

DNS_PUBLISH = "dns.publish"
DNS_REMOVE = "dns.remove"
DNS_KINDS = (DNS_PUBLISH, DNS_REMOVE)


@dataclass(frozen=True)
class QueuedPublication:
    """What a request answers: the work is queued (or, for manual DNS, the customer's)."""

    mode: str
    status: Literal["manual", "queued"]
    detail: str
    records: int
    job_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "status": self.status,
            "detail": self.detail,
            "records": self.records,
            "job_id": self.job_id,
        }


def subject_of(domain_id: int) -> str:
    return f"domain:{domain_id}"


def all_records(session: Session, settings: Settings, domain: Domain) -> list[DnsRecord]:
    keys = list(session.scalars(select(DkimKey).where(DkimKey.domain_id == domain.id)))
    return records_for(domain, keys, settings)


def requester(principal: Principal) -> dict[str, Any]:
    """Who asked, so that the job's audit entry names them rather than "system"."""
    return {"kind": principal.kind, "id": principal.id, "name": principal.name}


def _queue(
    session: Session,
    principal: Principal,
    domain: Domain,
    kind: str,
    payload: dict[str, Any],
    count: int,
) -> QueuedPublication:
    operation = "publish" if kind == DNS_PUBLISH else "remove"
    if domain.dns_automation == "manual":
        return QueuedPublication("manual", "manual", f"{operation} the records yourself", count)
    job = enqueue_job(session, kind, payload, subject=subject_of(domain.id))
    record(
        session,
        principal,
        "domain.dns_queued",
        object_type="domain",
        object_id=domain.id,
        tenant_id=domain.tenant_id,
        details={"domain": domain.name, "operation": operation, "job_id": job.id},
    )
    detail = f"{operation} queued: GET /api/v1/mail/domains/{domain.id}/dns/publication"
    return QueuedPublication(domain.dns_automation, "queued", detail, count, job.id)


def queue_publish(
    session: Session,
    principal: Principal,
    settings: Settings,
    domain: Domain,
    records: list[DnsRecord] | None = None,
) -> QueuedPublication:
    """Publish ``records`` (None: all the domain's records, as they are when the job runs,
    through the automation the domain has then). Flush only; the caller commits."""
    payload = {
        "domain_id": domain.id,
        "tenant_id": domain.tenant_id,
        "domain": domain.name,
        "mode": domain.dns_automation,
        "records": None if records is None else [r.as_dict() for r in records],
        "requested_by": requester(principal),
    }
    count = len(all_records(session, settings, domain) if records is None else records)
    return _queue(session, principal, domain, DNS_PUBLISH, payload, count)


def queue_removal(
    session: Session, principal: Principal, domain: Domain, records: list[DnsRecord]
) -> QueuedPublication:
    """Delete exactly ``records`` through the domain's automation. Everything the job needs
    is captured now: the domain row may be gone when it runs."""
    payload = {
        "domain_id": domain.id,
        "tenant_id": domain.tenant_id,
        "domain": domain.name,
        "mode": domain.dns_automation,
        "dns_settings": dict(domain.dns_settings or {}),
        "records": [r.as_dict() for r in records],
        "requested_by": requester(principal),
    }
    return _queue(session, principal, domain, DNS_REMOVE, payload, len(records))


def latest_job(session: Session, domain: Domain) -> Job | None:
    """The domain's newest publication or removal job (the caller checked the tenant)."""
    return latest_for(session, subject_of(domain.id), DNS_KINDS)
