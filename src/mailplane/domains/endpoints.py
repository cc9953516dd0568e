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
    DomainUpdate,
    PublishOut,
)
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
    With `dns_automation` rfc2136 or lexicon, the records are published at once (after the
    domain is committed) and `dns_publication` says how that went."""
    domain = service.create_domain(session, principal, settings, body)
    records = records_for(domain, service.dkim_keys(session, domain), settings)
    published = None
    if domain.dns_automation != "manual":
        session.commit()  # never hold the database while a DNS server answers
        result = publication.publish_records(settings, domain, records)
        publication.audit_publication(session, principal, domain, result)
        published = DnsPublicationOut.model_validate(result.as_dict())
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
    """Switching to (or reconfiguring) rfc2136 or lexicon automation publishes the records."""
    domain = service.update_domain(session, principal, domain_id, body, settings)
    automation_changed = body.dns_automation is not None or body.dns_settings is not None
    if automation_changed and domain.dns_automation != "manual":
        records = records_for(domain, service.dkim_keys(session, domain), settings)
        session.commit()
        result = publication.publish_records(settings, domain, records)
        publication.audit_publication(session, principal, domain, result)
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
    automation, the records mailplane published are deleted too (exactly those values).
    The mailboxes' mail is kept until the purge, as for a deleted mailbox."""
    domain = service.get_domain(session, principal, domain_id)
    records = records_for(domain, service.dkim_keys(session, domain), settings)
    service.delete_domain(session, principal, settings, domain_id)
    if domain.dns_automation != "manual":
        session.commit()
        result = publication.remove_records(settings, domain, records)
        publication.audit_publication(session, principal, domain, result)
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
    """(Re)publish every record of the domain through its DNS automation."""
    domain = service.get_domain(session, principal, domain_id)
    records = publication.all_records(session, settings, domain)
    session.commit()  # never hold the database while a DNS server answers
    result = publication.publish_records(settings, domain, records)
    publication.audit_publication(session, principal, domain, result)
    return PublishOut(
        publication=DnsPublicationOut.model_validate(result.as_dict()),
        records=_records_out(records),
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
