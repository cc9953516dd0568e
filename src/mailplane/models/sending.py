"""The outbound side: messages, one delivery per recipient, attempts, send API keys,
idempotency records, rate counters and side-effect jobs (SPEC section G).

A message's raw bytes are stored once; every recipient is its own ``Delivery`` row, so
that suppression, throttling, retries and statistics are per recipient (seed 002: never
BCC for bulk). A delivery is *due* while ``next_attempt_at`` is set and in the past;
final states clear it, so one index answers "what is due" for every worker.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mailplane.models.base import Base, UTCDateTime, utcnow

# BIGINT on PostgreSQL (a busy platform passes 2**31 deliveries), INTEGER on SQLite, where
# only "INTEGER PRIMARY KEY" is the rowid alias that autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def new_message_id() -> str:
    return uuid.uuid4().hex


class OutboundMessage(Base):
    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbound_messages_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_outbound_messages_domain_id_created_at", "domain_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_message_id)
    # None: the platform's own mail (a DSN, a forward whose alias could not be told).
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True
    )
    # The sending domain (the header From's); None for forwarded mail and DSNs.
    domain_id: Mapped[int | None] = mapped_column(
        ForeignKey("domains.id", ondelete="SET NULL"), nullable=True
    )
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # models.statuses.MessageSource: api | smtp | forward | dsn
    source: Mapped[str] = mapped_column(String(16))
    # models.statuses.MessageType: transactional | bulk
    type: Mapped[str] = mapped_column(String(16), default="transactional")
    # The Message-ID header, with its angle brackets.
    message_id_header: Mapped[str] = mapped_column(String(998))
    # The sender as the submitter gave it ("" = the null sender). The return path the
    # engine uses is the VERP address of each delivery (delivery/envelope.py), or SRS.
    envelope_from: Mapped[str] = mapped_column(String(320), default="")
    header_from: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(998), default="")
    # The domain whose active DKIM key signs this message; None: not signed by us.
    sign_domain: Mapped[str | None] = mapped_column(String(253), nullable=True)
    # The mailbox login that submitted it (source smtp): who gets a DSN when it fails.
    submitted_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    message_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    # A batch or campaign it belongs to (the circuit breaker of SPEC section H watches them).
    batch_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The list (category) a bulk message belongs to: one-click unsubscribe may end just
    # that list's mail for the recipient (unsubscribe/).
    list_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        # What is due: workers claim in next_attempt_at order (NULL once final).
        Index("ix_deliveries_next_attempt_at", "next_attempt_at"),
        Index("ix_deliveries_message_id", "message_id"),
        Index("ix_deliveries_tenant_id_status", "tenant_id", "status"),
        Index("ix_deliveries_recipient", "recipient"),
        # The deliverability report: a tenant's deliveries settled in the last days.
        Index("ix_deliveries_tenant_id_finished_at", "tenant_id", "finished_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("outbound_messages.id", ondelete="CASCADE"))
    tenant_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recipient: Mapped[str] = mapped_column(String(320))
    # A-label, lower case: the destination the engine groups connections by.
    recipient_domain: Mapped[str] = mapped_column(String(253))
    # models.statuses.DeliveryStatus
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The worker holding it while status is "sending"; its lease ends at next_attempt_at.
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_enhanced_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_remote: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # Set by a bounce that came back (bounces/): "hard"/"soft" and what kind.
    bounce_type: Mapped[str | None] = mapped_column(String(8), nullable=True)
    bounce_classification: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The outbound route it was given (outbound_routes/): retries stay on it.
    route_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Why it waits without an attempt: "limit:<id>" (a throttle), "pause:<id>" (paused).
    held_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class DeliveryAttempt(Base):
    """One try of one delivery: a retry is a new row (STYLE habit 4)."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    # delivered | deferred | bounced | failed
    outcome: Mapped[str] = mapped_column(String(16))
    remote_host: Mapped[str | None] = mapped_column(String(253), nullable=True)
    remote_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    enhanced_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)


class ApiKey(Base):
    """A per-domain send key. Shown once as ``mpk_<public_id>_<secret>``; only the SHA-256
    of the whole key is kept (it carries 256 random bits: a slow hash adds nothing)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # server (secret, for back ends) | form (public, bound to origins and recipients)
    kind: Mapped[str] = mapped_column(String(8), default="server")
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    allowed_recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    # None: the tenant's (or the platform's) default.
    rate_limit_per_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    default_type: Mapped[str] = mapped_column(String(16), default="transactional")
    # The From of /api/send/external (whose body names no sender); None: noreply@<domain>.
    from_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyRecord(Base):
    """The first answer to an ``Idempotency-Key``, replayed for 24 h to the same key and
    body; a different body under the same key is a 409."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_records_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RateCounter(Base):
    """A fixed window's count for one scope (``domain:7``, ``key:3``), incremented with one
    atomic upsert so that every API process and node sees the same number."""

    __tablename__ = "rate_counters"

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds
    count: Mapped[int] = mapped_column(Integer, default=0)


class Job(Base):
    """A side effect (DNS publication, record removal, ...) enqueued in the same
    transaction as the change that causes it, run by the workers after commit."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_subject_id", "subject", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    # What the job acts on ("domain:42"): a domain's last publication is one lookup.
    subject: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Due while set; a claimed job's lease ends here. NULL once done or given up.
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
