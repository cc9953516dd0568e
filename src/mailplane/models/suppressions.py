"""Per tenant: the addresses its mail is no longer sent to, the soft bounces counted
towards that, and its sending statistics per domain and hour (issue 9, SPEC section G)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailplane.models.base import Base, UTCDateTime, utcnow
from mailplane.models.sending import BigId


class Suppression(Base):
    """An address a tenant's mail is not sent to (each tenant its own list)."""

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "address", name="uq_suppressions_tenant_id_address"),
        Index("ix_suppressions_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # Lower case, A-label domain (suppressions/service.normalize).
    address: Mapped[str] = mapped_column(String(320))
    # suppressions.policy.Reason: hard_bounce, repeated_soft_bounce, manual, import,
    # unsubscribed, complaint
    reason: Mapped[str] = mapped_column(String(32))
    # The delivery (and its message) that caused it; None when added by hand.
    delivery_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The remote's reply, or the note given when added by hand.
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None: never expires.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SoftBounce(Base):
    """One delivery that ended soft-bounced: after ``suppression_soft_bounce_limit`` of
    them within ``suppression_soft_bounce_days`` the address is suppressed."""

    __tablename__ = "soft_bounces"
    __table_args__ = (Index("ix_soft_bounces_tenant_id_address_at", "tenant_id", "address", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    delivery_id: Mapped[int] = mapped_column(BigId)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeliveryStat(Base):
    """Counters of one tenant's sending domain for one hour (``bucket``, UTC), added to
    with one atomic upsert per key and batch (statistics/service.py)."""

    __tablename__ = "delivery_stats"
    __table_args__ = (Index("ix_delivery_stats_domain_id_bucket", "domain_id", "bucket"),)

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    # 0: mail of the tenant without a sending domain of its own (forwards).
    domain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    deferred: Mapped[int] = mapped_column(Integer, default=0)
    bounced_hard: Mapped[int] = mapped_column(Integer, default=0)
    bounced_soft: Mapped[int] = mapped_column(Integer, default=0)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
