"""Throttles, outbound routes and warm-up, sending pauses, reputation counters,
complaints and list unsubscribes

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def _tenant(nullable: bool = False) -> sa.Column[int]:
    return sa.Column(
        "tenant_id",
        sa.Integer(),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=nullable,
    )


def _route(nullable: bool = False, primary_key: bool = False) -> sa.Column[int]:
    return sa.Column(
        "route_id",
        sa.Integer(),
        sa.ForeignKey("outbound_routes.id", ondelete="CASCADE"),
        nullable=nullable,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "outbound_routes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("source_ip", sa.String(45), nullable=True),
        sa.Column("relay_host", sa.String(253), nullable=True),
        sa.Column("relay_port", sa.Integer(), nullable=True),
        sa.Column("relay_tls", sa.String(16), nullable=False),
        sa.Column("relay_username", sa.String(320), nullable=True),
        sa.Column("relay_password", sa.String(500), nullable=True),
        sa.Column("helo_name", sa.String(253), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("plan_started_at", When, nullable=True),
        sa.Column("accepts_retries", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "route_day_counts",
        _route(primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "throttle_limits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        _tenant(nullable=True),
        _route(nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("mx_hosts", sa.JSON(), nullable=False),
        sa.Column("per_domain", sa.Boolean(), nullable=False),
        sa.Column("rate", sa.Integer(), nullable=False),
        sa.Column("period_seconds", sa.Integer(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_throttle_limits_tenant_id", "throttle_limits", ["tenant_id"])
    op.create_table(
        "throttle_buckets",
        sa.Column(
            "limit_id",
            sa.Integer(),
            sa.ForeignKey("throttle_limits.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(260), primary_key=True),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("window_count", sa.Integer(), nullable=False),
        sa.Column("previous_count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "sending_pauses",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant(),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("resumed_at", When, nullable=True),
        sa.Column("resumed_by", sa.String(200), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_sending_pauses_tenant_resumed", "sending_pauses", ["tenant_id", "resumed_at"]
    )
    op.create_table(
        "reputation_counts",
        sa.Column("scope", sa.String(100), primary_key=True),
        sa.Column("bucket", When, primary_key=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("hard_bounces", sa.Integer(), nullable=False),
        sa.Column("complaints", sa.Integer(), nullable=False),
    )
    op.create_table(
        "complaints",
        sa.Column("id", BigId, primary_key=True),
        _tenant(nullable=True),
        sa.Column("delivery_id", BigId, nullable=True),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("feedback_type", sa.String(32), nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.Column("reporter", sa.String(320), nullable=False),
        sa.Column("arrival_date", When, nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("received_at", When, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_complaints_delivery_id", "complaints", ["delivery_id"])
    op.create_index("ix_complaints_tenant_received", "complaints", ["tenant_id", "received_at"])
    op.create_table(
        "list_unsubscribes",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant(),
        sa.Column("list_id", sa.String(200), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("delivery_id", BigId, nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.UniqueConstraint("tenant_id", "list_id", "address", name="uq_list_unsubscribes"),
        sqlite_autoincrement=True,
    )
    # Plain ADD COLUMN (no table rebuild on SQLite: the mail-plane views read neither
    # table, but a rebuild of deliveries would copy the whole queue).
    op.add_column("deliveries", sa.Column("route_id", sa.Integer(), nullable=True))
    op.add_column("deliveries", sa.Column("held_by", sa.String(64), nullable=True))
    op.add_column("outbound_messages", sa.Column("list_id", sa.String(200), nullable=True))
    op.create_index(
        "ix_deliveries_tenant_id_finished_at", "deliveries", ["tenant_id", "finished_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_tenant_id_finished_at", "deliveries")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("list_id")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("held_by")
        batch.drop_column("route_id")
    for table in (
        "list_unsubscribes",
        "complaints",
        "reputation_counts",
        "sending_pauses",
        "throttle_buckets",
        "throttle_limits",
        "route_day_counts",
        "outbound_routes",
    ):
        op.drop_table(table)
