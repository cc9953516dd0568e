"""Suppression lists, soft-bounce counts and sending statistics per tenant

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ("sent", "delivered", "deferred", "bounced_hard", "bounced_soft", "suppressed", "failed")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("delivery_id", BigId, nullable=True),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("tenant_id", "address", name="uq_suppressions_tenant_id_address"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_suppressions_expires_at", "suppressions", ["expires_at"])
    op.create_table(
        "soft_bounces",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("delivery_id", BigId, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_soft_bounces_tenant_id_address_at", "soft_bounces", ["tenant_id", "address", "at"]
    )
    op.create_table(
        "delivery_stats",
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("domain_id", sa.Integer(), primary_key=True),
        sa.Column("bucket", sa.DateTime(timezone=True), primary_key=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_delivery_stats_domain_id_bucket", "delivery_stats", ["domain_id", "bucket"])


def downgrade() -> None:
    op.drop_index("ix_delivery_stats_domain_id_bucket", table_name="delivery_stats")
    op.drop_table("delivery_stats")
    op.drop_index("ix_soft_bounces_tenant_id_address_at", table_name="soft_bounces")
    op.drop_table("soft_bounces")
    op.drop_index("ix_suppressions_expires_at", table_name="suppressions")
    op.drop_table("suppressions")
