"""Domains, alias domains and DKIM keys. Services flush; the caller commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.authority import (
    OPERATOR,
    ObjectStatus,
    require_not_operator_held,
    status_setter,
)
from mailplane.auth.principals import SYSTEM, Principal, get_owned
from mailplane.config import Settings
from mailplane.db.pagination import Page, keyset_page
from mailplane.dkim.rotation import add_key
from mailplane.domains.claims import owned_parent, refuse_unclaimable
from mailplane.domains.dns_settings import validate_dns_settings
from mailplane.domains.records import records_for
from mailplane.domains.schemas import AliasDomainCreate, DomainCreate, DomainUpdate
from mailplane.domains.verification.state import next_check_at
from mailplane.errors import Conflict, Forbidden, InvalidInput, NotFound
from mailplane.mailboxes import storage
from mailplane.models import AliasDomain, DkimKey, Domain, Mailbox, Tenant, utcnow
from mailplane.models.statuses import DkimKeyStatus, OwnershipMethod, VerificationStatus
from mailplane.names import to_a_label
from mailplane.protocols.dns.records import DnsRecord
from mailplane.tenants import limits


def get_domain(session: Session, principal: Principal, domain_id: int) -> Domain:
    return get_owned(session, principal, Domain, domain_id, "domain")


def list_domains(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    tenant_id: int | None = None,
) -> Page[Domain]:
    query = select(Domain).where(principal.tenant_filter(Domain.tenant_id))
    if tenant_id is not None:
        query = query.where(Domain.tenant_id == tenant_id)
    return keyset_page(session, query, Domain.id, limit=limit, cursor=cursor)


def _resolve_tenant(session: Session, principal: Principal, customer_id: int | None) -> Tenant:
    if customer_id is None:
        if principal.tenant_id is None:
            raise InvalidInput("customer_id is required", code="customer_id_required")
        customer_id = principal.tenant_id
    tenant = session.get(Tenant, customer_id)
    if tenant is None or (principal.tenant_id is not None and principal.tenant_id != tenant.id):
        raise NotFound(f"tenant {customer_id} not found", code="tenant_not_found")
    return tenant


def name_taken(session: Session, name: str) -> bool:
    """A name is one domain everywhere: hosted domain or alias domain, any tenant."""
    return (
        session.scalar(select(Domain.id).where(Domain.name == name)) is not None
        or session.scalar(select(AliasDomain.id).where(AliasDomain.name == name)) is not None
    )


def _require_platform_for_dns_settings(principal: Principal) -> None:
    """Per-domain DNS servers and credentials are the operator's: a tenant that could name
    the server would make the platform open TCP connections wherever it likes (SSRF)."""
    if not principal.is_platform:
        raise Forbidden(
            "only platform operators may set dns_settings; tenants use the platform's DNS "
            "automation settings",
            code="platform_only",
        )


def _require_platform_for_owned(principal: Principal, owned: bool | None) -> None:
    """Only an operator's word replaces DNS proof; a tenant saying "owned" is refused, not
    ignored, so that nobody believes a name routes mail when it does not."""
    if owned is not None and not principal.is_platform:
        raise Forbidden(
            "only platform operators may mark a name as owned; publish the ownership record "
            "(or point the MX records here) and verify the domain",
            code="platform_only",
        )


def release_stale_claim(session: Session, settings: Settings, name: str, tenant_id: int) -> None:
    """A name another tenant added but has not proven for ``unproven_claim_days`` no longer
    blocks this tenant: the stale row is deleted (its mailboxes' files kept restorable like
    any deleted mailbox's) and audited in the old tenant's log as ``*.release``. Proven
    names, and names an operator marked owned, are never released."""
    stale_before = utcnow() - timedelta(days=settings.unproven_claim_days)
    domain = _stale_claim(session, Domain, name, tenant_id, stale_before)
    if domain is not None:
        _audit_release(session, "domain", domain.id, domain.tenant_id, name)
        storage.retain_all_of_domain(session, SYSTEM, settings, domain.id)
        session.delete(domain)
        session.flush()
    alias_domain = _stale_claim(session, AliasDomain, name, tenant_id, stale_before)
    if alias_domain is not None:
        _audit_release(session, "alias_domain", alias_domain.id, alias_domain.tenant_id, name)
        session.delete(alias_domain)
        session.flush()


Claimable = TypeVar("Claimable", Domain, AliasDomain)


def _stale_claim(
    session: Session, model: type[Claimable], name: str, tenant_id: int, before: datetime
) -> Claimable | None:
    """Another tenant's row for the name, never proven, created before ``before``."""
    return session.scalar(
        select(model).where(
            model.name == name,
            model.owned_at.is_(None),
            model.tenant_id != tenant_id,
            model.created_at <= before,
        )
    )


def _audit_release(
    session: Session, object_type: str, object_id: int, tenant_id: int, name: str
) -> None:
    record(
        session,
        SYSTEM,
        f"{object_type}.release",
        object_type=object_type,
        object_id=object_id,
        tenant_id=tenant_id,
        details={"name": name, "reason": "never proven; claimed by another tenant"},
    )


def claim_name(
    session: Session,
    principal: Principal,
    settings: Settings,
    raw_name: str,
    tenant_id: int,
    owned: bool | None,
) -> tuple[str, OwnershipMethod | None]:
    """The canonical name, if this tenant may claim it, and how it is already proven."""
    _require_platform_for_owned(principal, owned)
    name = to_a_label(raw_name)
    refuse_unclaimable(session, settings, name, tenant_id, operator=principal.is_platform)
    release_stale_claim(session, settings, name, tenant_id)
    if name_taken(session, name):
        raise Conflict(f"the domain {name} is already hosted here", code="domain_exists")
    if owned:
        return name, OwnershipMethod.OPERATOR
    if owned_parent(session, name, tenant_id) is not None:
        return name, OwnershipMethod.PARENT
    return name, None


def create_domain(
    session: Session, principal: Principal, settings: Settings, data: DomainCreate
) -> Domain:
    tenant = _resolve_tenant(session, principal, data.customer_id)
    name, proven = claim_name(session, principal, settings, data.domain, tenant.id, data.owned)
    if data.dns_settings:
        _require_platform_for_dns_settings(principal)
    limits.check_domain(session, tenant.id)
    dns_settings = validate_dns_settings(settings, data.dns_automation, data.dns_settings or {})
    domain = Domain(
        tenant_id=tenant.id,
        name=name,
        dns_automation=data.dns_automation,
        dns_settings=dns_settings,
        # First periodic check soon, spread so that bulk imports do not arrive at once.
        next_check_at=next_check_at(settings, VerificationStatus.PENDING, utcnow()),
        owned_at=utcnow() if proven else None,
        ownership_method=proven,
    )
    session.add(domain)
    session.flush()
    algorithm = data.dkim_algorithm or settings.dkim_algorithm
    add_key(session, domain, settings.dkim_selector, algorithm, DkimKeyStatus.ACTIVE)
    record(
        session,
        principal,
        "domain.create",
        object_type="domain",
        object_id=domain.id,
        tenant_id=tenant.id,
        details={"domain": name, "dkim_algorithm": algorithm, "ownership": proven},
    )
    return domain


def update_domain(
    session: Session,
    principal: Principal,
    domain_id: int,
    data: DomainUpdate,
    settings: Settings | None = None,
) -> Domain:
    domain = get_domain(session, principal, domain_id)
    changes: dict[str, object] = {}
    if data.status is not None:
        set_by = status_setter(
            principal, current=domain.status, set_by=domain.suspended_by, requested=data.status
        )
        if data.status != domain.status or set_by != domain.suspended_by:
            changes["status"] = {"from": domain.status, "to": data.status, "by": set_by}
            domain.status = data.status
            domain.suspended_by = set_by
    if data.dns_automation is not None and data.dns_automation != domain.dns_automation:
        changes["dns_automation"] = data.dns_automation
        domain.dns_automation = data.dns_automation
        if data.dns_settings is None:
            domain.dns_settings = {}
    if data.dns_settings is not None:
        if data.dns_settings:  # clearing them (back to the platform's) is anyone's right
            _require_platform_for_dns_settings(principal)
        if settings is None:
            raise RuntimeError("update_domain needs the settings to validate dns_settings")
        domain.dns_settings = validate_dns_settings(
            settings, domain.dns_automation, data.dns_settings
        )
        changes["dns_settings"] = sorted(data.dns_settings)  # names only: values may be secret
    if data.owned is not None:
        _require_platform_for_owned(principal, data.owned)  # withdrawing too
        if data.owned != (domain.owned_at is not None):
            domain.owned_at = utcnow() if data.owned else None
            domain.ownership_method = OwnershipMethod.OPERATOR if data.owned else None
            changes["owned"] = data.owned
    if changes:
        session.flush()
        record(
            session,
            principal,
            "domain.update",
            object_type="domain",
            object_id=domain.id,
            tenant_id=domain.tenant_id,
            details=changes,
        )
    return domain


def set_status(
    session: Session, principal: Principal, domain_id: int, status: ObjectStatus
) -> Domain:
    return update_domain(session, principal, domain_id, DomainUpdate(status=status))


def delete_domain(
    session: Session, principal: Principal, settings: Settings, domain_id: int
) -> None:
    domain = get_domain(session, principal, domain_id)
    # Deleting would take the operator's suspended mailboxes with it: as good as lifting.
    held = session.scalar(
        select(Mailbox.id).where(Mailbox.domain_id == domain.id, Mailbox.suspended_by == OPERATOR)
    )
    require_not_operator_held(principal, OPERATOR if held is not None else domain.suspended_by)
    record(
        session,
        principal,
        "domain.delete",
        object_type="domain",
        object_id=domain_id,
        tenant_id=domain.tenant_id,
        details={"domain": domain.name},
    )
    # Its mailboxes' files are kept (restorable) until the purge, like a deleted mailbox's;
    # each is audited as a mailbox.delete after the domain's entry.
    storage.retain_all_of_domain(session, principal, settings, domain.id)
    session.delete(domain)
    session.flush()


def dkim_keys(session: Session, domain: Domain) -> list[DkimKey]:
    return list(
        session.scalars(select(DkimKey).where(DkimKey.domain_id == domain.id).order_by(DkimKey.id))
    )


def dns_records(
    session: Session, principal: Principal, settings: Settings, domain_id: int
) -> tuple[Domain, list[DnsRecord]]:
    domain = get_domain(session, principal, domain_id)
    return domain, records_for(domain, dkim_keys(session, domain), settings)


def create_alias_domain(
    session: Session,
    principal: Principal,
    settings: Settings,
    domain_id: int,
    data: AliasDomainCreate,
) -> AliasDomain:
    """An alias domain is a name like any other: the same refusals, the same proof."""
    domain = get_domain(session, principal, domain_id)
    name, proven = claim_name(session, principal, settings, data.name, domain.tenant_id, data.owned)
    limits.check_domain(session, domain.tenant_id)
    alias_domain = AliasDomain(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        name=name,
        owned_at=utcnow() if proven else None,
        ownership_method=proven,
    )
    session.add(alias_domain)
    session.flush()
    record(
        session,
        principal,
        "alias_domain.create",
        object_type="alias_domain",
        object_id=alias_domain.id,
        tenant_id=domain.tenant_id,
        details={"name": name, "target": domain.name, "ownership": proven},
    )
    return alias_domain


def list_alias_domains(
    session: Session, principal: Principal, domain_id: int, *, limit: int, cursor: str | None
) -> Page[AliasDomain]:
    domain = get_domain(session, principal, domain_id)
    query = select(AliasDomain).where(AliasDomain.domain_id == domain.id)
    return keyset_page(session, query, AliasDomain.id, limit=limit, cursor=cursor)


def delete_alias_domain(session: Session, principal: Principal, alias_domain_id: int) -> None:
    alias_domain = get_owned(session, principal, AliasDomain, alias_domain_id, "alias domain")
    session.delete(alias_domain)
    session.flush()
    record(
        session,
        principal,
        "alias_domain.delete",
        object_type="alias_domain",
        object_id=alias_domain_id,
        tenant_id=alias_domain.tenant_id,
        details={"name": alias_domain.name},
    )
