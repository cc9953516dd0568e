"""Deleted mailboxes whose files are still kept: the operator's list and the restore.

Tenant admins see their own tenant's (when the mail goes, and that it is still there);
only platform operators restore: a restore on a tenant admin's own deleted mailbox answers
403 ``platform_only``, on another tenant's 404, like every foreign object.

A restore makes a new mailbox row (ids are never reused) on the retained files, in the
same tenant only: mail never moves to another tenant, even at an operator's request. By
default it restores the old address; ``domain_id`` and ``local_part`` pick another one in
that tenant, for when the old address has been taken again (409 ``mailbox_exists``) or its
domain is gone (409 ``restore_domain_missing``).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.passwords import hash_password
from mailplane.auth.principals import Principal, get_owned
from mailplane.config import Settings
from mailplane.db.pagination import Page, keyset_page
from mailplane.errors import Conflict
from mailplane.mailboxes.schemas import DeletedMailboxRestore
from mailplane.models import DeletedMailbox, Domain, Mailbox
from mailplane.names import normalize_local_part


def list_deleted(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    tenant_id: int | None = None,
    email: str | None = None,
) -> Page[DeletedMailbox]:
    query = select(DeletedMailbox).where(principal.tenant_filter(DeletedMailbox.tenant_id))
    if tenant_id is not None:
        query = query.where(DeletedMailbox.tenant_id == tenant_id)
    if email is not None:
        query = query.where(DeletedMailbox.email == email.strip().lower())
    return keyset_page(session, query, DeletedMailbox.id, limit=limit, cursor=cursor)


def get_deleted(session: Session, principal: Principal, deleted_id: int) -> DeletedMailbox:
    return get_owned(session, principal, DeletedMailbox, deleted_id, "deleted mailbox")


def _target_domain(session: Session, kept: DeletedMailbox, domain_id: int | None) -> Domain:
    if domain_id is not None:
        domain = session.get(Domain, domain_id)
    else:
        name = kept.email.rsplit("@", 1)[1]
        domain = session.scalar(select(Domain).where(Domain.name == name))
    if domain is None:
        raise Conflict(
            "the domain to restore into does not exist; create it or give another domain_id",
            code="restore_domain_missing",
        )
    if domain.tenant_id != kept.tenant_id:
        # The same name may now belong to someone else: that is exactly whom the mail must
        # never reach.
        raise Conflict(
            f"the domain {domain.name} belongs to another tenant than the deleted mailbox",
            code="restore_other_tenant",
        )
    return domain


def restore(
    session: Session,
    principal: Principal,
    settings: Settings,
    deleted_id: int,
    data: DeletedMailboxRestore,
) -> Mailbox:
    principal.require_write()
    password_hash = hash_password(data.password, settings) if data.password else None
    kept = get_deleted(session, principal, deleted_id)
    # After the tenant filter: another tenant's row is a 404, never a hint that it exists.
    principal.require_platform()
    if kept.purge_started_at is not None:
        raise Conflict("the purge of these files has begun", code="purge_in_progress")
    domain = _target_domain(session, kept, data.domain_id)
    local_part = normalize_local_part(data.local_part or kept.email.rsplit("@", 1)[0])
    email = f"{local_part}@{domain.name}"
    if session.scalar(select(Mailbox.id).where(Mailbox.email == email)) is not None:
        raise Conflict(f"the mailbox {email} exists already", code="mailbox_exists")
    # Conditional on no purge having claimed the row since it was read: on PostgreSQL the
    # purge's claim and this statement lock the same row, so exactly one of them wins.
    claimed = session.execute(
        delete(DeletedMailbox)
        .where(DeletedMailbox.id == kept.id, DeletedMailbox.purge_started_at.is_(None))
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise Conflict("the purge of these files has begun", code="purge_in_progress")
    mailbox = Mailbox(
        tenant_id=kept.tenant_id,
        domain_id=domain.id,
        local_part=local_part,
        email=email,
        display_name=kept.display_name,
        password_hash=password_hash or kept.password_hash,
        quota_mb=kept.quota_mb,
        storage_id=kept.storage_id,
        maildir=kept.maildir,
    )
    session.add(mailbox)
    session.flush()
    record(
        session,
        principal,
        "mailbox.restore",
        object_type="mailbox",
        object_id=mailbox.id,
        tenant_id=mailbox.tenant_id,
        details={
            "email": email,
            "deleted_mailbox_id": kept.id,
            "deleted_email": kept.email,
            "deleted_mailbox": kept.mailbox_id,
            "password": "changed" if password_hash else "kept",
        },
    )
    return mailbox
