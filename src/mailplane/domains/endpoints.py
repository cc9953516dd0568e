from __future__ import annotations

from fastapi import APIRouter, Response, status

from mailplane.api.deps import PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import OptionalQueryId, PathId
from mailplane.api.responses import ERRORS
from mailplane.domains import publication, service
from mailplane.domains.records import records_for
from mailplane.domains.schemas import (
    AliasDomainCreate,
    AliasDomainOut,
    DnsPublicationOut,
    DnsRecordOut,
    DnsRecordsOut,
    DomainCreate,
    DomainCreated,
    DomainOut,
    DomainPublicationOut,
    DomainUpdate,
    PublicationJobOut,
    PublishOut,
)
from mailplane.jobs.queue import JobState, state_of
from mailplane.models import Job
from mailplane.names import to_u_label
from mailplane.protocols.dns.records import DnsRecord
from mailplane.schemas import PageOut

router = APIRouter(prefix="/api/v1/mail", tags=["domains"], responses=ERRORS)


def _records_out(records: list[DnsRecord]) -> list[DnsRecordOut]:
    return [DnsRecordOut.model_validate(r.as_dict()) for r in records]


@router.get("/domains", response_model=PageOut[DomainOut])
def list_domains(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    customer_id: OptionalQueryId = None,
) -> PageOut[DomainOut]:
    result = service.list_domains(
        session, principal, limit=page.limit, cursor=page.cursor, tenant_id=customer_id
    )
    return PageOut(items=[DomainOut.of(d) for d in result.items], next_cursor=result.next_cursor)


@router.post("/domains", response_model=DomainCreated, status_code=status.HTTP_201_CREATED)
def create_domain(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, body: DomainCreate
) -> DomainCreated:
    """Creates the domain and its first DKIM key; answers with the DNS records to publish.
    With `dns_automation` rfc2136 or lexicon, their publication is queued in the same
    transaction (`dns_publication.status` "queued", with its `job_id`) and runs within
    about a second; `GET /domains/{id}/dns/publication` and the audit log show how it went."""
    domain = service.create_domain(session, principal, settings, body)
    records = records_for(domain, service.dkim_keys(session, domain), settings)
    published = None
    if domain.dns_automation != "manual":
        queued = publication.queue_publish(session, principal, settings, domain)
        published = DnsPublicationOut.model_validate(queued.as_dict())
    return DomainCreated(
        **DomainOut.of(domain).model_dump(),
        dns_records=_records_out(records),
        dns_publication=published,
    )


@router.get("/domains/{domain_id}", response_model=DomainOut)
def get_domain(session: SessionDep, principal: PrincipalDep, domain_id: PathId) -> DomainOut:
    return DomainOut.of(service.get_domain(session, principal, domain_id))


@router.patch("/domains/{domain_id}", response_model=DomainOut)
def update_domain(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    domain_id: PathId,
    body: DomainUpdate,
) -> DomainOut:
    """Switching to (or reconfiguring) rfc2136 or lexicon automation queues the publication
    of the records (see `GET /domains/{id}/dns/publication`)."""
    domain = service.update_domain(session, principal, domain_id, body, settings)
    automation_changed = body.dns_automation is not None or body.dns_settings is not None
    if automation_changed and domain.dns_automation != "manual":
        publication.queue_publish(session, principal, settings, domain)
    return DomainOut.of(domain)


@router.post("/domains/{domain_id}/suspend", response_model=DomainOut)
def suspend_domain(session: SessionDep, principal: WriterDep, domain_id: PathId) -> DomainOut:
    """No logins for any mailbox of the domain; mail for it is still accepted."""
    return DomainOut.of(service.set_status(session, principal, domain_id, "suspended"))


@router.post("/domains/{domain_id}/unsuspend", response_model=DomainOut)
def unsuspend_domain(session: SessionDep, principal: WriterDep, domain_id: PathId) -> DomainOut:
    return DomainOut.of(service.set_status(session, principal, domain_id, "active"))


@router.delete("/domains/{domain_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_domain(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, domain_id: PathId
) -> Response:
    """Deletes the domain with its mailboxes, aliases, alias domains and DKIM keys. With DNS
    automation, the removal of the records mailplane published (exactly those values) is
    queued with the deletion; the audit log shows its outcome (`domain.dns_publish`).
    The mailboxes' mail is kept until the purge, as for a deleted mailbox."""
    domain = service.get_domain(session, principal, domain_id)
    records = records_for(domain, service.dkim_keys(session, domain), settings)
    service.delete_domain(session, principal, settings, domain_id)
    if domain.dns_automation != "manual":
        publication.queue_removal(session, principal, domain, records)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/domains/{domain_id}/dns", response_model=DnsRecordsOut)
def dns_records(
    session: SessionDep, principal: PrincipalDep, settings: SettingsDep, domain_id: PathId
) -> DnsRecordsOut:
    domain, records = service.dns_records(session, principal, settings, domain_id)
    return DnsRecordsOut(domain=domain.name, records=_records_out(records))


@router.post("/domains/{domain_id}/dns/publish", response_model=PublishOut)
def publish_dns(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, domain_id: PathId
) -> PublishOut:
    """(Re)publish every record of the domain through its DNS automation: queued, and
    done within about a second; `GET /domains/{id}/dns/publication` shows the outcome."""
    domain = service.get_domain(session, principal, domain_id)
    records = publication.all_records(session, settings, domain)
    queued = publication.queue_publish(session, principal, settings, domain)
    return PublishOut(
        publication=DnsPublicationOut.model_validate(queued.as_dict()),
        records=_records_out(records),
    )


def _job_out(job: Job) -> PublicationJobOut:
    operation = "publish" if job.kind == publication.DNS_PUBLISH else "remove"
    state = state_of(job)
    done = {"publish": "published", "remove": "removed"}[operation]
    return PublicationJobOut(
        job_id=job.id,
        operation=operation,
        status=done if state == JobState.DONE else state.value,
        attempts=job.attempts,
        last_error=job.last_error,
        next_attempt_at=job.run_at if state in (JobState.QUEUED, JobState.RETRYING) else None,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


@router.get("/domains/{domain_id}/dns/publication", response_model=DomainPublicationOut)
def dns_publication(
    session: SessionDep, principal: PrincipalDep, domain_id: PathId
) -> DomainPublicationOut:
    """The outcome of the domain's latest DNS publication (or record removal) through its
    automation: queued, running, retrying (with the error and the next attempt),
    published, or failed. Every outcome is also in the audit log (`domain.dns_publish`)."""
    domain = service.get_domain(session, principal, domain_id)
    job = publication.latest_job(session, domain)
    return DomainPublicationOut(
        domain=to_u_label(domain.name),
        dns_automation=domain.dns_automation,
        last=None if job is None else _job_out(job),
    )


@router.get("/domains/{domain_id}/alias-domains", response_model=PageOut[AliasDomainOut])
def list_alias_domains(
    session: SessionDep, principal: PrincipalDep, domain_id: PathId, page: PageDep
) -> PageOut[AliasDomainOut]:
    result = service.list_alias_domains(
        session, principal, domain_id, limit=page.limit, cursor=page.cursor
    )
    return PageOut(
        items=[AliasDomainOut.of(row) for row in result.items], next_cursor=result.next_cursor
    )


@router.post(
    "/domains/{domain_id}/alias-domains",
    response_model=AliasDomainOut,
    status_code=status.HTTP_201_CREATED,
)
def create_alias_domain(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    domain_id: PathId,
    body: AliasDomainCreate,
) -> AliasDomainOut:
    """Mail to any local part at the alias domain goes to the same local part here, once the
    alias domain's ownership is proven (its MX at the platform, or `ownership_record`
    published, then POST /domains/{id}/verify) or an operator created it with `owned`."""
    return AliasDomainOut.of(
        service.create_alias_domain(session, principal, settings, domain_id, body)
    )


@router.delete("/alias-domains/{alias_domain_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_alias_domain(
    session: SessionDep, principal: WriterDep, alias_domain_id: PathId
) -> Response:
    service.delete_alias_domain(session, principal, alias_domain_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
