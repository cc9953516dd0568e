"""Mail domains, their alias domains and their DKIM keys."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailplane.models.base import Base, UTCDateTime, utcnow
from mailplane.names import to_u_label


def new_ownership_token() -> str:
    """The value a tenant publishes in DNS to prove it controls a name: unguessable, and new
    for every row, so a name deleted and claimed again needs a fresh proof."""
    return secrets.token_hex(16)


class OwnershipColumns:
    """Shared by domains and alias domains: a name routes mail only once ``owned_at`` is set
    (the SQL views of migration 0005 filter on it)."""

    ownership_token: Mapped[str] = mapped_column(String(64), default=new_ownership_token)
    owned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # models.statuses.OwnershipMethod; None while unproven.
    ownership_method: Mapped[str | None] = mapped_column(String(16), nullable=True)


def _unicode_name(context: Any) -> str | None:
    """The U-label form of an IDN name, which SMTPUTF8 clients may write and Postfix
    looks up as written (mp_unicode_domains, migration 0008); None for ASCII names."""
    name: str = context.get_current_parameters()["name"]
    unicode_name = to_u_label(name)
    return unicode_name if unicode_name != name else None


class Domain(OwnershipColumns, Base):
    __tablename__ = "domains"
    __table_args__ = (
        Index("ix_domains_tenant_id_id", "tenant_id", "id"),
        # The periodic re-check claims the domains due first (domains/verification/scheduler).
        Index("ix_domains_next_check_at", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(253), unique=True)  # A-label, lower case
    # Names never change after creation, so the default is the whole story.
    unicode_name: Mapped[str | None] = mapped_column(
        String(253), default=_unicode_name, index=True, nullable=True
    )
    # active | suspended (no logins, mail still accepted) | disabled (mail refused too)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Who set a status other than active: operator | tenant (None when active). A tenant
    # cannot lift what an operator decided.
    suspended_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # DNS verification: pending | verified | failing | sending_disabled
    verification_status: Mapped[str] = mapped_column(String(24), default="pending")
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_check_report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # manual | rfc2136 | lexicon
    dns_automation: Mapped[str] = mapped_column(String(16), default="manual")
    dns_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AliasDomain(OwnershipColumns, Base):
    """``name`` receives mail for the same local parts as its target domain."""

    __tablename__ = "alias_domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    unicode_name: Mapped[str | None] = mapped_column(
        String(253), default=_unicode_name, index=True, nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DkimKey(Base):
    __tablename__ = "dkim_keys"
    __table_args__ = (Index("ix_dkim_keys_domain_selector", "domain_id", "selector", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    selector: Mapped[str] = mapped_column(String(63))
    algorithm: Mapped[str] = mapped_column(String(16))  # rsa-2048 | ed25519
    private_key_pem: Mapped[str] = mapped_column(Text)
    public_key_b64: Mapped[str] = mapped_column(Text)  # the p= value of the DNS record
    # pending (published, not yet signing) | active (signing) | retiring | retired
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retire_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
