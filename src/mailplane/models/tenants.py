"""Tenants (the platform's customers) and the people who administer them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailplane.models.base import Base, UTCDateTime, utcnow


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # active | suspended: a suspended tenant's admins cannot log in.
    status: Mapped[str] = mapped_column(String(16), default="active")
    notes: Mapped[str] = mapped_column(Text, default="")
    # Limits set by platform operators (None = unlimited); see mailplane.tenants.limits.
    max_domains: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_mailboxes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_aliases: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_quota_mb_per_mailbox: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_total_quota_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Messages (recipients) per hour each of its domains may send through the send API;
    # None: the platform's default (settings.send_rate_per_hour).
    send_rate_per_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The circuit breaker's thresholds for this tenant; None: the platform's settings
    # (breaker_min_sample, breaker_hard_bounce_rate, breaker_complaint_rate).
    breaker_min_sample: Mapped[int | None] = mapped_column(Integer, nullable=True)
    breaker_hard_bounce_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    breaker_complaint_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def limits(self) -> dict[str, int | float | None]:
        return {
            "max_domains": self.max_domains,
            "max_mailboxes": self.max_mailboxes,
            "max_aliases": self.max_aliases,
            "max_quota_mb_per_mailbox": self.max_quota_mb_per_mailbox,
            "max_total_quota_mb": self.max_total_quota_mb,
            "send_rate_per_hour": self.send_rate_per_hour,
            "breaker_min_sample": self.breaker_min_sample,
            "breaker_hard_bounce_rate": self.breaker_hard_bounce_rate,
            "breaker_complaint_rate": self.breaker_complaint_rate,
        }


class TenantAdmin(Base):
    """An address is unique within its tenant only: a global uniqueness rule would tell a
    tenant creating an admin that the address administers some other tenant."""

    __tablename__ = "tenant_admins"
    __table_args__ = (
        Index("ix_tenant_admins_tenant_id_email", "tenant_id", "email", unique=True),
        Index("ix_tenant_admins_email", "email"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    admin_id: Mapped[int] = mapped_column(
        ForeignKey("tenant_admins.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Every token rotated from one login shares its family: reusing a rotated token (a sign
    # that it was stolen) revokes the whole family, the thief's successor included.
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
