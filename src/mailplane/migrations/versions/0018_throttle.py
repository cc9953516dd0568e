"""Throttle buckets remember the next free return slot for deliveries that wait

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "throttle_buckets",
        sa.Column("next_slot", sa.Float(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("throttle_buckets") as batch:
        batch.drop_column("next_slot")
