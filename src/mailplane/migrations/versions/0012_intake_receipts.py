"""Intake receipts: what the SMTP intake has already queued, per Postfix queue id and
recipient, so that a message Postfix hands over twice is queued once

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "intake_receipts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("queue_id", sa.String(300), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column(
            "message_id",
            sa.String(32),
            sa.ForeignKey("outbound_messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("queue_id", "recipient", name="uq_intake_receipts_queue_id_recipient"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_intake_receipts_created_at", "intake_receipts", ["created_at"])
    op.create_index("ix_intake_receipts_message_id", "intake_receipts", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_intake_receipts_message_id", table_name="intake_receipts")
    op.drop_index("ix_intake_receipts_created_at", table_name="intake_receipts")
    op.drop_table("intake_receipts")
