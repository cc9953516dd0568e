"""Where a mailbox's files live, and what happens to them when the mailbox is deleted.

A mailbox's Maildir belongs to its row, not to its address: the path is made from the
tenant and the row's ``storage_id`` (a UUID), so that whoever creates the same address
later, in this tenant or another, starts empty. Deleting a mailbox keeps its files for
``mailbox_purge_grace_hours`` in a ``deleted_mailboxes`` row (an operator may restore
them); the purge (``mailboxes/purge.py``) removes them afterwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import Principal
from mailplane.config import Settings
from mailplane.models import DeletedMailbox, Mailbox, utcnow
from mailplane.models.mailboxes import new_storage_id


def maildir_for(tenant_id: int, storage_id: str) -> str:
    """The home directory of a new mailbox, relative to the mail root."""
    return f"{tenant_id}/{storage_id}/"


def new_storage(tenant_id: int) -> tuple[str, str]:
    """A fresh (storage_id, maildir) for a mailbox created in this tenant."""
    storage_id = new_storage_id()
    return storage_id, maildir_for(tenant_id, storage_id)


def purge_after(settings: Settings, deleted_at: datetime) -> datetime:
    return deleted_at + timedelta(hours=settings.mailbox_purge_grace_hours)


def retain(
    session: Session,
    principal: Principal,
    settings: Settings,
    mailbox: Mailbox,
    *,
    reason: str,
    now: datetime | None = None,
) -> DeletedMailbox:
    """Delete the mailbox row and keep its files, recorded for restore or purge, audited."""
    now = now or utcnow()
    kept = DeletedMailbox(
        tenant_id=mailbox.tenant_id,
        mailbox_id=mailbox.id,
        storage_id=mailbox.storage_id,
        maildir=mailbox.maildir,
        email=mailbox.email,
        display_name=mailbox.display_name,
        password_hash=mailbox.password_hash,
        quota_mb=mailbox.quota_mb,
        reason=reason,
        deleted_at=now,
        purge_after=purge_after(settings, now),
    )
    session.delete(mailbox)
    session.add(kept)
    session.flush()
    record(
        session,
        principal,
        "mailbox.delete",
        object_type="mailbox",
        object_id=mailbox.id,
        tenant_id=mailbox.tenant_id,
        details={
            "email": mailbox.email,
            "via": reason,
            "deleted_mailbox_id": kept.id,
            "purge_after": kept.purge_after.isoformat(),
        },
    )
    return kept


def retain_all_of_domain(
    session: Session, principal: Principal, settings: Settings, domain_id: int
) -> list[DeletedMailbox]:
    """Before a domain is deleted: keep every one of its mailboxes' files the same way."""
    now = utcnow()
    mailboxes = session.scalars(
        select(Mailbox).where(Mailbox.domain_id == domain_id).order_by(Mailbox.id)
    ).all()
    return [
        retain(session, principal, settings, mailbox, reason="domain.delete", now=now)
        for mailbox in mailboxes
    ]
