"""Bounces: what kind of bounce ended a delivery (hard/soft and a classification), from
the SMTP reply or from a bounce that came back later

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): no table rebuild on SQLite.
    op.add_column("deliveries", sa.Column("bounce_type", sa.String(8), nullable=True))
    op.add_column("deliveries", sa.Column("bounce_classification", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("bounce_classification")
        batch.drop_column("bounce_type")
