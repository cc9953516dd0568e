"""Deliverability controls (issue 11, SPEC section H): throttles, outbound routes with
their warm-up plans, sending pauses (the circuit breaker), reputation counters and
complaints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mailplane.models.base import Base, UTCDateTime, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")


class ThrottleLimit(Base):
    """At most ``rate`` deliveries per ``period_seconds`` for one scope, enforced by the
    delivery engine when it claims (``throttling/``): over the limit, deliveries wait.

    ``scope``: ``global``; ``tenant`` (``tenant_id`` set: that tenant; NULL: each tenant
    that has no limit of its own for the same period); ``destination`` (recipient domains
    matching ``domains`` or whose MX hosts match ``mx_hosts``, sharing one budget, or one
    each with ``per_domain``); ``route`` (``route_id``).
    """

    __tablename__ = "throttle_limits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True, index=True
    )
    route_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_routes.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(100), default="")
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    mx_hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    per_domain: Mapped[bool] = mapped_column(Boolean, default=False)
    rate: Mapped[int] = mapped_column(Integer)
    period_seconds: Mapped[int] = mapped_column(Integer)
    burst: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThrottleBucket(Base):
    """The state of one limit for one key ('' for a shared budget, a tenant id or a
    recipient domain): GCRA's theoretical arrival time, and counts for showing usage."""

    __tablename__ = "throttle_buckets"

    limit_id: Mapped[int] = mapped_column(
        ForeignKey("throttle_limits.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(260), primary_key=True)
    tat: Mapped[float] = mapped_column(Float, default=0.0)  # epoch seconds
    window_start: Mapped[int] = mapped_column(Integer, default=0)  # epoch seconds
    window_count: Mapped[int] = mapped_column(Integer, default=0)
    previous_count: Mapped[int] = mapped_column(Integer, default=0)
    # When the next delivery put back to wait for this bucket is due (epoch seconds): each
    # one put back takes the next free slot, one emission interval apart, across workers.
    next_slot: Mapped[float] = mapped_column(Float, default=0.0)


class OutboundRoute(Base):
    """A way out: a local source address bound when connecting and/or a relay host, with
    its own HELO name; ``plan`` warms it up (``outbound_routes/plans.py``)."""

    __tablename__ = "outbound_routes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    relay_host: Mapped[str | None] = mapped_column(String(253), nullable=True)
    relay_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    relay_tls: Mapped[str] = mapped_column(String(16), default="starttls")
    relay_username: Mapped[str | None] = mapped_column(String(320), nullable=True)
    relay_password: Mapped[str | None] = mapped_column(String(500), nullable=True)
    helo_name: Mapped[str | None] = mapped_column(String(253), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # None: established (takes any share of the traffic). Else the warm-up plan.
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    plan_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Whether a delivery deferred elsewhere may be retried here while it warms up.
    accepts_retries: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RouteDayCount(Base):
    """Deliveries given to a route on one UTC day (its warm-up daily cap)."""

    __tablename__ = "route_day_counts"

    route_id: Mapped[int] = mapped_column(
        ForeignKey("outbound_routes.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    count: Mapped[int] = mapped_column(Integer, default=0)


class SendingPause(Base):
    """A tenant's sending paused: ``bulk`` (the breaker, or an operator) or ``all`` (an
    operator only). Active while ``resumed_at`` is NULL; kept afterwards as history."""

    __tablename__ = "sending_pauses"
    __table_args__ = (Index("ix_sending_pauses_tenant_resumed", "tenant_id", "resumed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(8))  # bulk | all
    # hard_bounce_rate | complaint_rate | operator
    trigger: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resumed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ReputationCount(Base):
    """Per scope (``tenant:<id>``, ``batch:<tenant id>:<batch id>``) and minute: settled
    deliveries, hard bounces and complaints, the breaker's sliding window."""

    __tablename__ = "reputation_counts"

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    hard_bounces: Mapped[int] = mapped_column(Integer, default=0)
    complaints: Mapped[int] = mapped_column(Integer, default=0)


class Complaint(Base):
    """A recipient reported a message as spam (an ARF feedback report, RFC 5965)."""

    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_tenant_received", "tenant_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True
    )
    delivery_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    message_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    recipient: Mapped[str] = mapped_column(String(320), default="")
    feedback_type: Mapped[str] = mapped_column(String(32), default="abuse")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    reporter: Mapped[str] = mapped_column(String(320), default="")
    arrival_date: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ListUnsubscribe(Base):
    """A recipient left one list (category) of a tenant: that list's mail is withheld,
    the tenant's other mail still reaches them. A tenant-wide unsubscribe is a
    suppression with reason ``unsubscribed`` instead."""

    __tablename__ = "list_unsubscribes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "list_id", "address", name="uq_list_unsubscribes"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    list_id: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(320))  # lower case, A-label domain
    delivery_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="one-click")  # one-click | mailto
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
