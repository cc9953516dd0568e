"""Per-tenant circuit breaker thresholds (NULL: the platform's settings)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("breaker_min_sample", "INTEGER"),
    ("breaker_hard_bounce_rate", "FLOAT"),
    ("breaker_complaint_rate", "FLOAT"),
)


def upgrade() -> None:
    # tenants is read by the mail views (0002): ADD COLUMN in place, never a rebuild.
    for name, kind in COLUMNS:
        op.execute(sa.text(f"ALTER TABLE tenants ADD COLUMN {name} {kind}"))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.execute(sa.text(f"ALTER TABLE tenants DROP COLUMN {name}"))
