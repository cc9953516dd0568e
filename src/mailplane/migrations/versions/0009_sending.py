"""Sending: outbound messages, deliveries and their attempts, send API keys, idempotency
records, rate counters, side-effect jobs, and a tenant's send rate

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 03:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AUTOINCREMENT = {"sqlite_autoincrement": True}


def _stamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # tenants is read by the mail views (0002): ADD COLUMN in place, never a rebuild.
    op.execute(sa.text("ALTER TABLE tenants ADD COLUMN send_rate_per_hour INTEGER"))

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "domain_id",
            sa.Integer(),
            sa.ForeignKey("domains.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("public_id", sa.String(32), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("allowed_recipients", sa.JSON(), nullable=False),
        sa.Column("rate_limit_per_hour", sa.Integer(), nullable=True),
        sa.Column("default_type", sa.String(16), nullable=False),
        _stamp("expires_at", nullable=True),
        _stamp("last_used_at", nullable=True),
        _stamp("revoked_at", nullable=True),
        _stamp("created_at"),
        **AUTOINCREMENT,
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_index("ix_api_keys_domain_id", "api_keys", ["domain_id"])

    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "domain_id",
            sa.Integer(),
            sa.ForeignKey("domains.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "api_key_id",
            sa.Integer(),
            sa.ForeignKey("api_keys.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("message_id_header", sa.String(998), nullable=False),
        sa.Column("envelope_from", sa.String(320), nullable=False),
        sa.Column("header_from", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(998), nullable=False),
        sa.Column("sign_domain", sa.String(253), nullable=True),
        sa.Column("submitted_by", sa.String(320), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=True),
        _stamp("send_at", nullable=True),
        _stamp("created_at"),
    )
    op.create_index(
        "ix_outbound_messages_tenant_id_created_at",
        "outbound_messages",
        ["tenant_id", "created_at"],
    )
    op.create_index(
        "ix_outbound_messages_domain_id_created_at",
        "outbound_messages",
        ["domain_id", "created_at"],
    )
    op.create_index("ix_outbound_messages_api_key_id", "outbound_messages", ["api_key_id"])

    op.create_table(
        "deliveries",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "message_id",
            sa.String(32),
            sa.ForeignKey("outbound_messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("recipient_domain", sa.String(253), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _stamp("next_attempt_at", nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_enhanced_code", sa.String(16), nullable=True),
        sa.Column("last_reply", sa.Text(), nullable=True),
        sa.Column("last_remote", sa.String(300), nullable=True),
        _stamp("created_at"),
        _stamp("updated_at"),
        _stamp("finished_at", nullable=True),
        **AUTOINCREMENT,
    )
    op.create_index("ix_deliveries_next_attempt_at", "deliveries", ["next_attempt_at"])
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"])
    op.create_index("ix_deliveries_tenant_id_status", "deliveries", ["tenant_id", "status"])
    op.create_index("ix_deliveries_recipient", "deliveries", ["recipient"])

    op.create_table(
        "delivery_attempts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "delivery_id",
            BigId,
            sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _stamp("started_at"),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("remote_host", sa.String(253), nullable=True),
        sa.Column("remote_ip", sa.String(45), nullable=True),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("enhanced_code", sa.String(16), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        **AUTOINCREMENT,
    )
    op.create_index("ix_delivery_attempts_delivery_id", "delivery_attempts", ["delivery_id"])

    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "api_key_id",
            sa.Integer(),
            sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        _stamp("created_at"),
        _stamp("expires_at"),
        sa.UniqueConstraint("api_key_id", "key", name="uq_idempotency_records_key"),
        **AUTOINCREMENT,
    )
    op.create_index("ix_idempotency_records_expires_at", "idempotency_records", ["expires_at"])

    op.create_table(
        "rate_counters",
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "window_start", name="pk_rate_counters"),
    )

    op.create_table(
        "jobs",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _stamp("run_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _stamp("created_at"),
        _stamp("finished_at", nullable=True),
        **AUTOINCREMENT,
    )
    op.create_index("ix_jobs_run_at", "jobs", ["run_at"])


def downgrade() -> None:
    for table in (
        "jobs",
        "rate_counters",
        "idempotency_records",
        "delivery_attempts",
        "deliveries",
        "outbound_messages",
        "api_keys",
    ):
        op.drop_table(table)
    op.execute(sa.text("ALTER TABLE tenants DROP COLUMN send_rate_per_hour"))
