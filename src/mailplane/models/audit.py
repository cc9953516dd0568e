"""Audit log of every admin change, and the counters behind login throttling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mailplane.models.base import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(24))  # service_token | tenant_admin | system
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(320))
    # No foreign key: the trail must outlive the tenant it talks about.
    tenant_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(64))  # e.g. mailbox.create
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ThrottleCounter(Base):
    """Fixed-window failure counters, shared by every API process through the database."""

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=0)


class KnownLoginSource(Base):
    """An (account, client network) pair that logged in successfully: the account's and the
    network's failure ceilings do not apply to it, so an attacker who exhausts them does not
    lock the real admin out of the places it logs in from."""

    __tablename__ = "known_login_sources"

    account: Mapped[str] = mapped_column(String(320), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_success_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
