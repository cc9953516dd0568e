"""domain ownership: a name routes mail only once its tenant has proven it owns it

Revision ID: 0005
Revises: 0003

Domains and alias domains get an ``ownership_token`` (published in DNS as proof), and
``owned_at``/``ownership_method`` once proven (MX at the platform, the token, or an
operator's word). The mail views of 0002 are recreated so that a name nobody has proven
is no local destination, accepts no mail, and none of its mailboxes logs in or sends: the
same views, each arm joined to an owned domain (and owned alias domain).

Rows hosted before this revision are marked owned (method ``preexisting``): they route mail
today, and stopping that on upgrade would lose mail. Operators who want them proven can
clear ``owned_at`` and let verification prove them again (docs/operations.md).

Only ``ALTER TABLE ... ADD COLUMN`` touches the tables (SQLite does it in place), and the
views are dropped before and created after, in the same transaction.
"""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECEIVING = "('active', 'suspended')"
# The owned conditions every arm adds: the domain, and the alias domain where one is joined.
OWNED = "d.owned_at IS NOT NULL"
BOTH_OWNED = "d.owned_at IS NOT NULL AND x.owned_at IS NOT NULL"

_NOT_FORWARDED = (
    "NOT EXISTS (SELECT 1 FROM aliases f WHERE f.source = m.email "
    "AND f.active = TRUE AND f.keep_copy = FALSE)"
)
_LOCAL_AT_A = "substr(a.source, 1, length(a.source) - length(d.name))"
_LOCAL_AT_M = "substr(m.email, 1, length(m.email) - length(d.name))"

# The views of 0002 with the ownership conditions added; see 0002 for what each row means.
VIEWS: dict[str, str] = {
    "mp_virtual_domains": f"""
        SELECT d.name AS name FROM domains d WHERE d.status IN {RECEIVING} AND {OWNED}
        UNION ALL
        SELECT x.name AS name FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        WHERE d.status IN {RECEIVING} AND {BOTH_OWNED}
    """,
    "mp_mailboxes": f"""
        SELECT m.email AS email, m.maildir AS maildir, d.name AS domain
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE m.status IN {RECEIVING} AND d.status IN {RECEIVING} AND {OWNED}
    """,
    "mp_virtual_aliases": f"""
        SELECT a.source AS source, t.address AS destination, d.name AS domain
        FROM aliases a JOIN domains d ON d.id = a.domain_id
        JOIN alias_destinations t ON t.alias_id = a.id
        WHERE a.active = TRUE AND d.status IN {RECEIVING} AND {OWNED}
        UNION ALL
        SELECT m.email AS source, m.email AS destination, d.name AS domain
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE m.status IN {RECEIVING} AND d.status IN {RECEIVING} AND {OWNED}
        AND {_NOT_FORWARDED}
        UNION ALL
        SELECT {_LOCAL_AT_A} || x.name AS source, t.address AS destination, x.name AS domain
        FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        JOIN aliases a ON a.domain_id = d.id
        JOIN alias_destinations t ON t.alias_id = a.id
        WHERE a.active = TRUE AND d.status IN {RECEIVING} AND {BOTH_OWNED}
        UNION ALL
        SELECT {_LOCAL_AT_M} || x.name AS source, m.email AS destination, x.name AS domain
        FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        JOIN mailboxes m ON m.domain_id = d.id
        WHERE m.status IN {RECEIVING} AND d.status IN {RECEIVING} AND {BOTH_OWNED}
        AND {_NOT_FORWARDED}
    """,
    "mp_refused_recipients": f"""
        SELECT m.email AS address, d.name AS domain
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE m.status = 'disabled' AND d.status IN {RECEIVING} AND {OWNED}
        UNION ALL
        SELECT {_LOCAL_AT_M} || x.name AS address, x.name AS domain
        FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        JOIN mailboxes m ON m.domain_id = d.id
        WHERE m.status = 'disabled' AND d.status IN {RECEIVING} AND {BOTH_OWNED}
    """,
    # No row for an unproven name: reject_sender_login_mismatch then refuses it as a sender
    # for every login, so nobody submits mail "from" a name not shown to be theirs.
    "mp_sender_logins": f"""
        SELECT m.email AS sender, m.email AS login, d.name AS domain
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE {OWNED}
        UNION ALL
        SELECT a.source AS sender, t.address AS login, d.name AS domain
        FROM aliases a JOIN domains d ON d.id = a.domain_id
        JOIN alias_destinations t ON t.alias_id = a.id
        WHERE a.active = TRUE AND a.source NOT LIKE '@%' AND {OWNED}
        UNION ALL
        SELECT {_LOCAL_AT_M} || x.name AS sender, m.email AS login, x.name AS domain
        FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        JOIN mailboxes m ON m.domain_id = d.id
        WHERE {BOTH_OWNED}
        UNION ALL
        SELECT {_LOCAL_AT_A} || x.name AS sender, t.address AS login, x.name AS domain
        FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        JOIN aliases a ON a.domain_id = d.id
        JOIN alias_destinations t ON t.alias_id = a.id
        WHERE a.active = TRUE AND a.source NOT LIKE '@%' AND {BOTH_OWNED}
    """,
    # Mailboxes of an unproven domain can be prepared but not log in (IMAP, SMTP AUTH).
    "mp_dovecot_passdb": f"""
        SELECT m.email AS username, m.password_hash AS password
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        JOIN tenants n ON n.id = m.tenant_id
        WHERE m.status = 'active' AND d.status = 'active' AND n.status = 'active' AND {OWNED}
    """,
    "mp_dovecot_userdb": f"""
        SELECT m.email AS username, m.maildir AS maildir,
               '*:storage=' || CAST(m.quota_mb AS TEXT) || 'M' AS quota_rule
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE m.status IN {RECEIVING} AND d.status IN {RECEIVING} AND {OWNED}
    """,
}

OWNED_TABLES = ("domains", "alias_domains")


def _views_of_0002() -> dict[str, str]:
    """The bodies to put back on downgrade, read from revision 0002 itself."""
    path = Path(__file__).with_name("0002_mail_views.py")
    spec = importlib.util.spec_from_file_location("mailplane_migration_0002", path)
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    views: dict[str, str] = module.VIEWS
    return views


def _create_views(views: dict[str, str]) -> None:
    for name, body in views.items():
        # text() would read ":storage" as a bind parameter; escape every colon.
        op.execute(sa.text(f"CREATE VIEW {name} AS {body.strip()}".replace(":", "\\:")))


def _drop_views(names: Sequence[str]) -> None:
    for name in reversed(names):
        op.execute(f"DROP VIEW IF EXISTS {name}")


def _backfill(table: str) -> None:
    connection = op.get_bind()
    rows = sa.table(
        table,
        sa.column("id", sa.Integer),
        sa.column("ownership_token", sa.String),
        sa.column("owned_at", sa.DateTime(timezone=True)),
        sa.column("ownership_method", sa.String),
    )
    ids = connection.scalars(sa.select(rows.c.id)).all()
    if not ids:
        return
    now = datetime.now(UTC)
    if connection.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # stored naive UTC, as models.base.UTCDateTime does
    connection.execute(
        rows.update()
        .where(rows.c.id == sa.bindparam("row_id"))
        .values(
            ownership_token=sa.bindparam("token"),
            owned_at=sa.bindparam("now"),
            ownership_method="preexisting",
        ),
        [{"row_id": row_id, "token": secrets.token_hex(16), "now": now} for row_id in ids],
    )


def upgrade() -> None:
    _drop_views(list(VIEWS))
    for table in OWNED_TABLES:
        op.add_column(table, sa.Column("ownership_token", sa.String(length=64), nullable=True))
        op.add_column(table, sa.Column("owned_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("ownership_method", sa.String(length=16), nullable=True))
        _backfill(table)
        if op.get_bind().dialect.name != "sqlite":
            # SQLite cannot make an added column NOT NULL without a default; the model always
            # sets a token there.
            op.alter_column(table, "ownership_token", nullable=False)
    _create_views(VIEWS)


def downgrade() -> None:
    _drop_views(list(VIEWS))
    for table in OWNED_TABLES:
        # SQLite >= 3.35 drops a column natively (no table rebuild under the views).
        for column in ("ownership_method", "owned_at", "ownership_token"):
            op.drop_column(table, column)
    _create_views(_views_of_0002())
