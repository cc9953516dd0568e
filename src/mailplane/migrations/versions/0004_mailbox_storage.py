"""mailbox storage keyed by the row: storage_id, and deleted mailboxes kept until purged

Revision ID: 0004
Revises: 0003

Every mailbox gets a ``storage_id`` (a UUID). New mailboxes live at
``<tenant_id>/<storage_id>/`` under the mail root; deleting one records its files in
``deleted_mailboxes`` until the purge removes them (or an operator restores them).

Existing rows keep their ``<domain>/<local part>/`` maildir: moving files from a migration
would race a running Dovecot and could not be rolled back with the transaction. They are
safe as they are, because no new row is ever given an address-derived path again: when
such a mailbox is deleted, its path goes into ``deleted_mailboxes`` like any other, and
whoever re-creates the address gets a fresh ``<tenant_id>/<storage_id>/``.

Only ``ALTER TABLE ... ADD COLUMN`` and ``CREATE INDEX`` touch ``mailboxes``: a batch
rebuild on SQLite would rename the table under the views Postfix and Dovecot read, and
the views are owned by other revisions. SQLite cannot add a NOT NULL column without a
default, hence the empty default there; the unique index makes a row that relied on it fail
loudly at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _backfill_storage_ids() -> None:
    connection = op.get_bind()
    mailboxes = sa.table("mailboxes", sa.column("id", sa.Integer), sa.column("storage_id"))
    ids = connection.scalars(sa.select(mailboxes.c.id)).all()
    if ids:
        connection.execute(
            mailboxes.update()
            .where(mailboxes.c.id == sa.bindparam("row_id"))
            .values(storage_id=sa.bindparam("new_id")),
            [{"row_id": row_id, "new_id": str(uuid.uuid4())} for row_id in ids],
        )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column(
        "mailboxes",
        sa.Column(
            "storage_id",
            sa.String(length=36),
            nullable=not sqlite,
            server_default="" if sqlite else None,
        ),
    )
    _backfill_storage_ids()
    if not sqlite:
        op.alter_column("mailboxes", "storage_id", nullable=False)
    op.create_index("ix_mailboxes_storage_id", "mailboxes", ["storage_id"], unique=True)

    op.create_table(
        "deleted_mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("storage_id", sa.String(length=36), nullable=False),
        sa.Column("maildir", sa.String(length=400), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("quota_mb", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purge_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purge_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deleted_mailboxes")),
        sa.UniqueConstraint("storage_id", name=op.f("uq_deleted_mailboxes_storage_id")),
        # Ids are never handed out twice (as for every table, see models/__init__.py).
        sqlite_autoincrement=True,
    )
    op.create_index("ix_deleted_mailboxes_tenant_id_id", "deleted_mailboxes", ["tenant_id", "id"])
    op.create_index("ix_deleted_mailboxes_purge_after", "deleted_mailboxes", ["purge_after"])


def downgrade() -> None:
    op.drop_index("ix_deleted_mailboxes_purge_after", table_name="deleted_mailboxes")
    op.drop_index("ix_deleted_mailboxes_tenant_id_id", table_name="deleted_mailboxes")
    op.drop_table("deleted_mailboxes")
    op.drop_index("ix_mailboxes_storage_id", table_name="mailboxes")
    # SQLite >= 3.35 drops a column natively (no table rebuild under the views).
    op.drop_column("mailboxes", "storage_id")
