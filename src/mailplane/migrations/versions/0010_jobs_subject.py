"""Jobs name what they act on (``subject``, e.g. ``domain:42``), so that a domain's last
DNS publication is one indexed lookup

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # jobs is read by no SQL view: ADD COLUMN in place on both databases.
    op.add_column("jobs", sa.Column("subject", sa.String(64), nullable=True))
    op.create_index("ix_jobs_subject_id", "jobs", ["subject", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_subject_id", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("subject")
