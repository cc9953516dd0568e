"""Tenants and their admins. Services flush; the caller commits."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.passwords import hash_password
from mailplane.auth.principals import Principal
from mailplane.config import Settings
from mailplane.db.pagination import Page, keyset_page
from mailplane.errors import Conflict, NotFound
from mailplane.models import Domain, Tenant, TenantAdmin
from mailplane.names import normalize_address
from mailplane.tenants import limits
from mailplane.tenants.schemas import TenantAdminCreate, TenantCreate, TenantLimits, TenantUpdate


def get_tenant(session: Session, principal: Principal, tenant_id: int) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    principal.check_tenant(tenant.id, "tenant")
    return tenant


def list_tenants(
    session: Session, principal: Principal, *, limit: int, cursor: str | None
) -> Page[Tenant]:
    query = select(Tenant).where(principal.tenant_filter(Tenant.id))
    return keyset_page(session, query, Tenant.id, limit=limit, cursor=cursor)


def _check_name_free(session: Session, name: str, except_id: int | None = None) -> None:
    query = select(Tenant.id).where(func.lower(Tenant.name) == name.lower())
    existing = session.scalar(query)
    if existing is not None and existing != except_id:
        raise Conflict(f"a tenant named {name!r} exists already", code="tenant_exists")


def create_tenant(session: Session, principal: Principal, data: TenantCreate) -> Tenant:
    principal.require_platform()
    name = data.name.strip()
    _check_name_free(session, name)
    tenant = Tenant(name=name, notes=data.notes)
    set_limits = _apply_limits(tenant, data.limits) if data.limits is not None else {}
    session.add(tenant)
    session.flush()
    record(
        session,
        principal,
        "tenant.create",
        object_type="tenant",
        object_id=tenant.id,
        tenant_id=tenant.id,
        details={"name": name, **({"limits": set_limits} if set_limits else {})},
    )
    return tenant


def _apply_limits(tenant: Tenant, data: TenantLimits) -> dict[str, object]:
    """Only the fields the request sent: an absent field keeps its value, null lifts it."""
    changes: dict[str, object] = {}
    for name in sorted(data.model_fields_set):
        value = getattr(data, name)
        if getattr(tenant, name) != value:
            changes[name] = value
            setattr(tenant, name, value)
    return changes


def usage_report(session: Session, principal: Principal, tenant_id: int) -> dict[str, object]:
    tenant = get_tenant(session, principal, tenant_id)
    return {"limits": tenant.limits, "usage": limits.usage(session, tenant.id)}


def update_tenant(
    session: Session, principal: Principal, tenant_id: int, data: TenantUpdate
) -> Tenant:
    tenant = get_tenant(session, principal, tenant_id)
    changes: dict[str, object] = {}
    if data.status is not None and data.status != tenant.status:
        principal.require_platform()
        tenant.status = data.status
        changes["status"] = data.status
    if data.limits is not None:
        principal.require_platform()
        if limit_changes := _apply_limits(tenant, data.limits):
            changes["limits"] = limit_changes
    if data.name is not None and data.name.strip() != tenant.name:
        # The operator's label for its customer; and a tenant choosing names would learn
        # from tenant_exists which other tenants exist.
        principal.require_platform()
        _check_name_free(session, data.name.strip(), except_id=tenant.id)
        tenant.name = data.name.strip()
        changes["name"] = tenant.name
    if data.notes is not None and data.notes != tenant.notes:
        tenant.notes = data.notes
        changes["notes"] = True
    if changes:
        session.flush()
        record(
            session,
            principal,
            "tenant.update",
            object_type="tenant",
            object_id=tenant.id,
            tenant_id=tenant.id,
            details=changes,
        )
    return tenant


def delete_tenant(session: Session, principal: Principal, tenant_id: int) -> None:
    tenant = get_tenant(session, principal, tenant_id)
    principal.require_platform()
    domains = session.scalar(select(func.count()).where(Domain.tenant_id == tenant.id)) or 0
    if domains:
        raise Conflict(
            f"the tenant still has {domains} domain(s); delete them first",
            code="tenant_not_empty",
        )
    session.delete(tenant)
    session.flush()
    record(
        session,
        principal,
        "tenant.delete",
        object_type="tenant",
        object_id=tenant_id,
        tenant_id=tenant_id,
        details={"name": tenant.name},
    )


def create_admin(
    session: Session,
    principal: Principal,
    settings: Settings,
    tenant_id: int,
    data: TenantAdminCreate,
) -> TenantAdmin:
    email = normalize_address(data.email, "email")
    password_hash = hash_password(data.password, settings)  # before the first query, as above
    tenant = get_tenant(session, principal, tenant_id)
    # Unique within the tenant only: a global check would tell this tenant that the address
    # administers another one. Login tells such accounts apart by their passwords.
    existing = select(TenantAdmin.id).where(
        TenantAdmin.tenant_id == tenant.id, TenantAdmin.email == email
    )
    if session.scalar(existing) is not None:
        raise Conflict(
            f"this tenant has an admin with the address {email} already", code="admin_exists"
        )
    admin = TenantAdmin(tenant_id=tenant.id, email=email, password_hash=password_hash)
    session.add(admin)
    session.flush()
    record(
        session,
        principal,
        "tenant_admin.create",
        object_type="tenant_admin",
        object_id=admin.id,
        tenant_id=tenant.id,
        details={"email": email},
    )
    return admin


def list_admins(
    session: Session, principal: Principal, tenant_id: int, *, limit: int, cursor: str | None
) -> Page[TenantAdmin]:
    tenant = get_tenant(session, principal, tenant_id)
    query = select(TenantAdmin).where(TenantAdmin.tenant_id == tenant.id)
    return keyset_page(session, query, TenantAdmin.id, limit=limit, cursor=cursor)


def delete_admin(session: Session, principal: Principal, tenant_id: int, admin_id: int) -> None:
    tenant = get_tenant(session, principal, tenant_id)
    admin = session.get(TenantAdmin, admin_id)
    if admin is None or admin.tenant_id != tenant.id:
        raise NotFound("tenant admin not found")
    session.delete(admin)
    session.flush()
    record(
        session,
        principal,
        "tenant_admin.delete",
        object_type="tenant_admin",
        object_id=admin_id,
        tenant_id=tenant.id,
        details={"email": admin.email},
    )
