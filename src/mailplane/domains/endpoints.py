from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from mailplane.api.deps import PrincipalDep, SessionDep, SettingsDep, WriterDep
from mailplane.api.pagination import PageDep
from mailplane.api.params import OptionalQueryId, PathId
from mailplane.api.responses import ERRORS
from mailplane.dns import service as dns_service
from mailplane.domains import dkim, service
from mailplane.domains.names import to_u_label
from mailplane.domains.records import records_for
from mailplane.domains.schemas import (
    AliasDomainCreate,
    AliasDomainOut,
    DkimKeyOut,
    DnsRecordsOut,
    DomainCreate,
    DomainCreated,
    DomainOut,
    DomainUpdate,
    domain_out,
)
from mailplane.models import AliasDomain, DkimKey, Domain
from mailplane.schemas import PageOut

router = APIRouter(prefix="/api/v1/mail", tags=["domains"], responses=ERRORS)


def _alias_domain_out(row: AliasDomain) -> dict[str, Any]:
    return {
        "id": row.id,
        "domain_id": row.domain_id,
        "name": to_u_label(row.name),
        "name_ascii": row.name,
        "created_at": row.created_at,
    }


def dkim_out(domain: Domain, key: DkimKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "selector": key.selector,
        "algorithm": key.algorithm,
        "status": key.status,
        "dns_name": f"{key.selector}._domainkey.{domain.name}",
        "dns_value": dkim.txt_value(key.algorithm, key.public_key_b64),
        "created_at": key.created_at,
        "activated_at": key.activated_at,
        "retired_at": key.retired_at,
    }


@router.get("/domains", response_model=PageOut[DomainOut])
def list_domains(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    customer_id: OptionalQueryId = None,
) -> dict[str, Any]:
    result = service.list_domains(
        session, principal, limit=page.limit, cursor=page.cursor, tenant_id=customer_id
    )
    return {"items": [domain_out(d) for d in result.items], "next_cursor": result.next_cursor}


@router.post("/domains", response_model=DomainCreated, status_code=status.HTTP_201_CREATED)
def create_domain(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, body: DomainCreate
) -> dict[str, Any]:
    """Creates the domain and its first DKIM key; answers with the DNS records to publish.
    With `dns_automation` rfc2136 or lexicon, the records are published at once (after the
    domain is committed) and `dns_publication` says how that went."""
    domain = service.create_domain(session, principal, settings, body)
    records = records_for(domain, service.dkim_keys(session, domain), settings)
    publication = None
    if domain.dns_automation != "manual":
        session.commit()  # never hold the database while a DNS server answers
        result = dns_service.publish_records(settings, domain, records)
        dns_service.audit_publication(session, principal, domain, result)
        publication = result.as_dict()
    return {
        **domain_out(domain),
        "dns_records": [r.as_dict() for r in records],
        "dns_publication": publication,
    }


@router.get("/domains/{domain_id}", response_model=DomainOut)
def get_domain(session: SessionDep, principal: PrincipalDep, domain_id: PathId) -> dict[str, Any]:
    return domain_out(service.get_domain(session, principal, domain_id))


@router.patch("/domains/{domain_id}", response_model=DomainOut)
def update_domain(
    session: SessionDep,
    principal: WriterDep,
    settings: SettingsDep,
    domain_id: PathId,
    body: DomainUpdate,
) -> dict[str, Any]:
    """Switching to (or reconfiguring) rfc2136 or lexicon automation publishes the records."""
    domain = service.update_domain(session, principal, domain_id, body, settings)
    automation_changed = body.dns_automation is not None or body.dns_settings is not None
    if automation_changed and domain.dns_automation != "manual":
        records = records_for(domain, service.dkim_keys(session, domain), settings)
        session.commit()
        result = dns_service.publish_records(settings, domain, records)
        dns_service.audit_publication(session, principal, domain, result)
    return domain_out(domain)


@router.post("/domains/{domain_id}/suspend", response_model=DomainOut)
def suspend_domain(session: SessionDep, principal: WriterDep, domain_id: PathId) -> dict[str, Any]:
    """No logins for any mailbox of the domain; mail for it is still accepted."""
    return domain_out(service.set_status(session, principal, domain_id, "suspended"))


@router.post("/domains/{domain_id}/unsuspend", response_model=DomainOut)
def unsuspend_domain(
    session: SessionDep, principal: WriterDep, domain_id: PathId
) -> dict[str, Any]:
    return domain_out(service.set_status(session, principal, domain_id, "active"))


@router.delete("/domains/{domain_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_domain(
    session: SessionDep, principal: WriterDep, settings: SettingsDep, domain_id: PathId
) -> Response:
    """Deletes the domain with its mailboxes, aliases, alias domains and DKIM keys. With DNS
    automation, the records mailplane published are deleted too (exactly those values)."""
    domain = service.get_domain(session, principal, domain_id)
    records = records_for(domain, service.dkim_keys(session, domain), settings)
    service.delete_domain(session, principal, domain_id)
    if domain.dns_automation != "manual":
        session.commit()
        result = dns_service.remove_records(settings, domain, records)
        dns_service.audit_publication(session, principal, domain, result)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/domains/{domain_id}/dns", response_model=DnsRecordsOut)
def dns_records(
    session: SessionDep, principal: PrincipalDep, settings: SettingsDep, domain_id: PathId
) -> dict[str, Any]:
    domain, records = service.dns_records(session, principal, settings, domain_id)
    return {"domain": domain.name, "records": [r.as_dict() for r in records]}


@router.get("/domains/{domain_id}/dkim", response_model=list[DkimKeyOut])
def dkim_keys(
    session: SessionDep, principal: PrincipalDep, domain_id: PathId
) -> list[dict[str, Any]]:
    domain = service.get_domain(session, principal, domain_id)
    return [dkim_out(domain, key) for key in service.dkim_keys(session, domain)]


@router.get("/domains/{domain_id}/alias-domains", response_model=PageOut[AliasDomainOut])
def list_alias_domains(
    session: SessionDep, principal: PrincipalDep, domain_id: PathId, page: PageDep
) -> dict[str, Any]:
    result = service.list_alias_domains(
        session, principal, domain_id, limit=page.limit, cursor=page.cursor
    )
    return {
        "items": [_alias_domain_out(row) for row in result.items],
        "next_cursor": result.next_cursor,
    }


@router.post(
    "/domains/{domain_id}/alias-domains",
    response_model=AliasDomainOut,
    status_code=status.HTTP_201_CREATED,
)
def create_alias_domain(
    session: SessionDep, principal: WriterDep, domain_id: PathId, body: AliasDomainCreate
) -> dict[str, Any]:
    """Mail to any local part at the alias domain goes to the same local part here."""
    return _alias_domain_out(service.create_alias_domain(session, principal, domain_id, body))


@router.delete("/alias-domains/{alias_domain_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_alias_domain(
    session: SessionDep, principal: WriterDep, alias_domain_id: PathId
) -> Response:
    service.delete_alias_domain(session, principal, alias_domain_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
