"""Operator authority and login hardening: who suspended, tenant limits, refresh token
families, admin addresses unique per tenant, known login sources

Revision ID: 0006
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIMITS = (
    "max_domains",
    "max_mailboxes",
    "max_aliases",
    "max_quota_mb_per_mailbox",
    "max_total_quota_mb",
)

# A batch rebuild on SQLite would otherwise drop AUTOINCREMENT (0001): ids of deleted rows
# must never be handed out again.
KEEP_AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    # tenants, domains and mailboxes are read by the mail views (0002): only ADD COLUMN here,
    # which SQLite does in place, never a table rebuild that would break the views.
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        for name in LIMITS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
    for table in ("domains", "mailboxes"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("suspended_by", sa.String(length=16), nullable=True))
        # Who imposed an existing suspension is unknown: treat it as the operator's, the
        # side that can always lift it, rather than let a tenant undo an operator's decision.
        op.execute(
            sa.text(f"UPDATE {table} SET suspended_by = 'operator' WHERE status <> 'active'")
        )

    with op.batch_alter_table("refresh_tokens", table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("family_id", sa.String(length=32), nullable=True))
    op.execute(
        sa.text("UPDATE refresh_tokens SET family_id = 'legacy-' || CAST(id AS VARCHAR(20))")
    )
    with op.batch_alter_table("refresh_tokens", table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.alter_column("family_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index(batch_op.f("ix_refresh_tokens_family_id"), ["family_id"])

    with op.batch_alter_table("tenant_admins", table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint("uq_tenant_admins_email", type_="unique")
        batch_op.create_index(
            "ix_tenant_admins_tenant_id_email", ["tenant_id", "email"], unique=True
        )
        batch_op.create_index("ix_tenant_admins_email", ["email"], unique=False)

    op.create_table(
        "known_login_sources",
        sa.Column("account", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", "source", name=op.f("pk_known_login_sources")),
    )


def downgrade() -> None:
    op.drop_table("known_login_sources")
    with op.batch_alter_table("tenant_admins", table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.drop_index("ix_tenant_admins_email")
        batch_op.drop_index("ix_tenant_admins_tenant_id_email")
        batch_op.create_unique_constraint("uq_tenant_admins_email", ["email"])
    with op.batch_alter_table("refresh_tokens", table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_family_id"))
        batch_op.drop_column("family_id")
    # Plain DROP COLUMN (SQLite >= 3.35 and PostgreSQL): a batch rebuild of these tables
    # would fail on SQLite because the mail views reference them.
    for table in ("mailboxes", "domains"):
        op.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN suspended_by"))
    for name in reversed(LIMITS):
        op.execute(sa.text(f"ALTER TABLE tenants DROP COLUMN {name}"))
