"""What mailbox users own beyond their mail: sessions, mail tokens, signatures, contacts,
and the live-event bus between API processes (issue 10, SPEC sections E and F)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailplane.models.base import Base, UTCDateTime, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")


class MailboxRefreshToken(Base):
    """A mailbox user's login (webmail): rotated like a tenant admin's refresh token."""

    __tablename__ = "mailbox_refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MailToken(Base):
    """A minted ``mail_access`` JWT, by its ``jti``: introspection finds revocation here.

    The row belongs to the mailbox (cascade): a deleted mailbox's tokens die with it, and
    a later mailbox with the same address never inherits them (SECURITY.md 2).
    """

    __tablename__ = "mail_tokens"
    __table_args__ = (Index("ix_mail_tokens_expires_at", "expires_at"),)

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[int] = mapped_column(Integer)
    # Who asked: mailbox (the user), tenant_admin, service_token, webmail (the API's pool).
    issued_to: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Signature(Base):
    __tablename__ = "signatures"
    __table_args__ = (Index("ix_signatures_mailbox_id_id", "mailbox_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    html: Mapped[str] = mapped_column(Text, default="")  # sanitized when stored
    text: Mapped[str] = mapped_column(Text, default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SignatureRule(Base):
    __tablename__ = "signature_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signature_id: Mapped[int] = mapped_column(
        ForeignKey("signatures.id", ondelete="CASCADE"), index=True
    )
    match_type: Mapped[str] = mapped_column(String(16))  # domain | email
    match_value: Mapped[str] = mapped_column(String(320))  # lower case, A-label domain


class Contact(Base):
    """An address a mailbox user wrote to or received from: autocomplete ranks by use and
    recency."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_mailbox_id_address", "mailbox_id", "address", unique=True),
        Index("ix_contacts_mailbox_id_last_used_at", "mailbox_id", "last_used_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))  # lower case
    name: Mapped[str] = mapped_column(String(200), default="")
    sent_count: Mapped[int] = mapped_column(Integer, default=0)
    received_count: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailEvent(Base):
    """One live mail event on its way to every API process (each tails this table and
    hands the event to its own WebSocket connections of that mailbox)."""

    __tablename__ = "mail_events"
    __table_args__ = (Index("ix_mail_events_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # JSON: the event's "data"
    # Which source saw it: idle | push | poll
    source: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
