"""Unicode (U-label) domain names for SMTPUTF8 senders: a column and a view

Revision ID: 0008
Revises: 0003
Create Date: 2026-11-23 02:30:00

An SMTPUTF8 client may write its own address as info@bäckerei.test (RFC 6531), and
Postfix looks that form up as it is: it never converts between U-labels and A-labels.
Domains are stored as A-labels, and portable SQL cannot decode Punycode, so each IDN
domain and alias domain keeps its U-label form beside it (NULL for plain ASCII names)
and ``mp_unicode_domains`` maps one to the other for Postfix's sender-login check.
"""

from __future__ import annotations

from collections.abc import Sequence

import idna
import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("domains", "alias_domains")

# Flat UNION ALL of single-table selects, like every view of 0002: SQLite pushes the
# lookup's WHERE into each arm and answers from the unicode_name indexes.
MP_UNICODE_DOMAINS = """
    SELECT d.unicode_name AS unicode_name, d.name AS name
    FROM domains d WHERE d.unicode_name IS NOT NULL
    UNION ALL
    SELECT x.unicode_name AS unicode_name, x.name AS name
    FROM alias_domains x WHERE x.unicode_name IS NOT NULL
"""


def _unicode_form(name: str) -> str | None:
    try:
        decoded = idna.decode(name)
    except (idna.IDNAError, UnicodeError):
        return None
    return decoded if decoded != name else None


def upgrade() -> None:
    connection = op.get_bind()
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("unicode_name", sa.String(length=253), nullable=True))
            batch_op.create_index(f"ix_{table}_unicode_name", ["unicode_name"], unique=False)
        rows = connection.execute(
            sa.text(f"SELECT id, name FROM {table} WHERE name LIKE '%xn--%'")
        ).all()
        for row_id, name in rows:
            connection.execute(
                sa.text(f"UPDATE {table} SET unicode_name = :u WHERE id = :id"),
                {"u": _unicode_form(name), "id": row_id},
            )
    op.execute(f"CREATE VIEW mp_unicode_domains AS {MP_UNICODE_DOMAINS.strip()}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS mp_unicode_domains")
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_unicode_name")
            batch_op.drop_column("unicode_name")
