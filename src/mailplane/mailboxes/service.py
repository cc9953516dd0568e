"""Mailboxes (accounts). Services flush; the caller commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.authority import ObjectStatus, require_not_operator_held, status_setter
from mailplane.auth.passwords import hash_password
from mailplane.auth.principals import Principal, get_owned
from mailplane.config import Settings
from mailplane.db.pagination import Page, keyset_page
from mailplane.domains.service import get_domain
from mailplane.errors import Conflict
from mailplane.mailboxes import storage
from mailplane.mailboxes.schemas import MailboxCreate, MailboxUpdate
from mailplane.models import Mailbox, utcnow
from mailplane.names import normalize_local_part
from mailplane.tenants import limits


def get_mailbox(session: Session, principal: Principal, mailbox_id: int) -> Mailbox:
    return get_owned(session, principal, Mailbox, mailbox_id, "mailbox")


def list_mailboxes(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    domain_id: int | None = None,
) -> Page[Mailbox]:
    query = select(Mailbox).where(principal.tenant_filter(Mailbox.tenant_id))
    if domain_id is not None:
        domain = get_domain(session, principal, domain_id)
        query = query.where(Mailbox.domain_id == domain.id)
    return keyset_page(session, query, Mailbox.id, limit=limit, cursor=cursor)


def create_mailbox(
    session: Session,
    principal: Principal,
    settings: Settings,
    domain_id: int,
    data: MailboxCreate,
) -> Mailbox:
    local_part = normalize_local_part(data.local_part)
    # Hash before the first query: on SQLite that query takes the write lock, and the hash
    # is the slow part (about 100 ms with production argon2 parameters).
    password_hash = hash_password(data.password, settings)
    domain = get_domain(session, principal, domain_id)
    email = f"{local_part}@{domain.name}"
    if session.scalar(select(Mailbox.id).where(Mailbox.email == email)) is not None:
        raise Conflict(f"the mailbox {email} exists already", code="mailbox_exists")
    limits.check_mailbox(session, domain.tenant_id, data.quota_mb)
    # Never a path made from the address: it would hand a deleted mailbox's mail to the
    # address's next owner.
    storage_id, maildir = storage.new_storage(domain.tenant_id)
    mailbox = Mailbox(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        local_part=local_part,
        email=email,
        display_name=data.display_name,
        password_hash=password_hash,
        quota_mb=data.quota_mb,
        storage_id=storage_id,
        maildir=maildir,
    )
    session.add(mailbox)
    session.flush()
    record(
        session,
        principal,
        "mailbox.create",
        object_type="mailbox",
        object_id=mailbox.id,
        tenant_id=domain.tenant_id,
        details={"email": email, "quota_mb": data.quota_mb},
    )
    return mailbox


def update_mailbox(
    session: Session,
    principal: Principal,
    settings: Settings,
    mailbox_id: int,
    data: MailboxUpdate,
) -> Mailbox:
    # Hash before the first query (see create_mailbox).
    password_hash = hash_password(data.password, settings) if data.password is not None else None
    mailbox = get_mailbox(session, principal, mailbox_id)
    changes: dict[str, object] = {}
    if password_hash is not None:
        mailbox.password_hash = password_hash
        mailbox.password_changed_at = utcnow()
        changes["password"] = "changed"  # noqa: S105 (an audit note, not a password)
    if data.quota_mb is not None and data.quota_mb != mailbox.quota_mb:
        limits.check_quota_change(session, mailbox, data.quota_mb)
        changes["quota_mb"] = {"from": mailbox.quota_mb, "to": data.quota_mb}
        mailbox.quota_mb = data.quota_mb
    if data.display_name is not None and data.display_name != mailbox.display_name:
        mailbox.display_name = data.display_name
        changes["display_name"] = data.display_name
    if data.status is not None:
        set_by = status_setter(
            principal, current=mailbox.status, set_by=mailbox.suspended_by, requested=data.status
        )
        if data.status != mailbox.status or set_by != mailbox.suspended_by:
            changes["status"] = {"from": mailbox.status, "to": data.status, "by": set_by}
            mailbox.status = data.status
            mailbox.suspended_by = set_by
    if changes:
        session.flush()
        record(
            session,
            principal,
            "mailbox.update",
            object_type="mailbox",
            object_id=mailbox.id,
            tenant_id=mailbox.tenant_id,
            details={"email": mailbox.email, **changes},
        )
    return mailbox


def set_status(
    session: Session,
    principal: Principal,
    settings: Settings,
    mailbox_id: int,
    status: ObjectStatus,
) -> Mailbox:
    return update_mailbox(
        session,
        principal,
        settings,
        mailbox_id,
        MailboxUpdate(status=status),
    )


def delete_mailbox(
    session: Session, principal: Principal, settings: Settings, mailbox_id: int
) -> None:
    """The row goes now (no more mail, no more logins); its files stay for the grace period
    so that an operator can restore them, then the purge removes them."""
    mailbox = get_mailbox(session, principal, mailbox_id)
    require_not_operator_held(principal, mailbox.suspended_by)
    storage.retain(session, principal, settings, mailbox, reason="mailbox.delete")
