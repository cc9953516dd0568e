"""Mailboxes and aliases: the rows Postfix and Dovecot read through SQL views."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mailplane.models.base import Base, UTCDateTime, utcnow


def new_storage_id() -> str:
    return str(uuid4())


class Mailbox(Base):
    __tablename__ = "mailboxes"
    __table_args__ = (
        Index("ix_mailboxes_domain_id_id", "domain_id", "id"),
        Index("ix_mailboxes_tenant_id_id", "tenant_id", "id"),
        Index("ix_mailboxes_storage_id", "storage_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    local_part: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower case, A-label domain
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))  # {ARGON2ID}... or {BLF-CRYPT}...
    quota_mb: Mapped[int] = mapped_column(Integer, default=1024)  # 0 = unlimited
    # active | suspended (no login, still receives) | disabled (mail refused too)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Who set a status other than active: operator | tenant (None when active).
    suspended_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The identity of the mailbox's files: never derived from the address, never reused, so
    # that whoever creates the same address later starts with an empty Maildir.
    storage_id: Mapped[str] = mapped_column(String(36), default=new_storage_id)
    # Relative to the mail root: "<tenant_id>/<storage_id>/" (rows made before migration
    # 0004 keep their old "<domain>/<local part>/").
    maildir: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeletedMailbox(Base):
    """The files of a deleted mailbox, kept until ``purge_after`` so that an operator can
    restore them; the purge then removes the files and this row.

    No foreign keys: the row outlives its mailbox, its domain and possibly its tenant.
    """

    __tablename__ = "deleted_mailboxes"
    __table_args__ = (
        Index("ix_deleted_mailboxes_tenant_id_id", "tenant_id", "id"),
        Index("ix_deleted_mailboxes_purge_after", "purge_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(Integer)
    mailbox_id: Mapped[int] = mapped_column(Integer)  # the deleted row's id (never reused)
    storage_id: Mapped[str] = mapped_column(String(36), unique=True)
    maildir: Mapped[str] = mapped_column(String(400))
    email: Mapped[str] = mapped_column(String(320))
    # What a restore brings back besides the mail: the login keeps working as before.
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    quota_mb: Mapped[int] = mapped_column(Integer)
    # What deleted it: mailbox.delete | domain.delete
    reason: Mapped[str] = mapped_column(String(32))
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    purge_after: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when a purge claims the row: from then on the files may be half gone, so a
    # restore is refused.
    purge_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Alias(Base):
    """``source`` is a full address, or ``@domain`` for a catch-all."""

    __tablename__ = "aliases"
    __table_args__ = (Index("ix_aliases_domain_id_id", "domain_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(320), unique=True)
    # When the source is also a mailbox: keep a copy there besides forwarding.
    keep_copy: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AliasDestination(Base):
    __tablename__ = "alias_destinations"
    __table_args__ = (
        Index("ix_alias_destinations_alias_address", "alias_id", "address", unique=True),
        Index("ix_alias_destinations_address", "address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias_id: Mapped[int] = mapped_column(ForeignKey("aliases.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
