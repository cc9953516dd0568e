"""Mailbox user sessions, mail tokens, signatures, contacts and the live mail-event bus

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def _mailbox(column: str = "mailbox_id") -> sa.Column[int]:
    return sa.Column(
        column, sa.Integer(), sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False
    )


def _tenant() -> sa.Column[int]:
    return sa.Column(
        "tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "mailbox_refresh_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        _mailbox(),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("family_id", sa.String(32), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("revoked_at", When, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_mailbox_refresh_tokens_mailbox_id", "mailbox_refresh_tokens", ["mailbox_id"]
    )
    op.create_index("ix_mailbox_refresh_tokens_family_id", "mailbox_refresh_tokens", ["family_id"])
    op.create_table(
        "mail_tokens",
        sa.Column("jti", sa.String(32), primary_key=True),
        _mailbox(),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("issued_to", sa.String(32), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("revoked_at", When, nullable=True),
    )
    op.create_index("ix_mail_tokens_mailbox_id", "mail_tokens", ["mailbox_id"])
    op.create_index("ix_mail_tokens_expires_at", "mail_tokens", ["expires_at"])
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant(),
        _mailbox(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_signatures_mailbox_id_id", "signatures", ["mailbox_id", "id"])
    op.create_table(
        "signature_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "signature_id",
            sa.Integer(),
            sa.ForeignKey("signatures.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("match_type", sa.String(16), nullable=False),
        sa.Column("match_value", sa.String(320), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_signature_rules_signature_id", "signature_rules", ["signature_id"])
    op.create_table(
        "contacts",
        sa.Column("id", BigId, primary_key=True),
        _tenant(),
        _mailbox(),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("received_count", sa.Integer(), nullable=False),
        sa.Column("last_used_at", When, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_contacts_mailbox_id_address", "contacts", ["mailbox_id", "address"], unique=True
    )
    op.create_index(
        "ix_contacts_mailbox_id_last_used_at", "contacts", ["mailbox_id", "last_used_at"]
    )
    op.create_table(
        "mail_events",
        sa.Column("id", BigId, primary_key=True),
        _mailbox(),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_mail_events_created_at", "mail_events", ["created_at"])


def downgrade() -> None:
    for table in (
        "mail_events",
        "contacts",
        "signature_rules",
        "signatures",
        "mail_tokens",
        "mailbox_refresh_tokens",
    ):
        op.drop_table(table)
