"""mail views: the contract Postfix and Dovecot read live

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:00:00

Postfix and Dovecot query these views directly (postfix-sqlite/-pgsql, dovecot-sqlite/
-pgsql), so a change through the API takes effect at the next lookup, without a reload
and while the API process is down. The same SQL runs on SQLite and PostgreSQL: text
comparisons only, booleans compared with TRUE/FALSE (SQLite >= 3.23 knows them), ``||``
for concatenation, ``substr``/``length`` for string surgery.

Every view is a flat UNION ALL of simple joins, never a view over a view: SQLite then
pushes the lookup's ``WHERE source = '...'`` into each arm and answers from the unique
indexes (measured in ``bench/inbound.py`` against 100,000 mailboxes).

Statuses (SPEC section C): a domain or mailbox that is ``active`` or ``suspended``
receives mail; ``disabled`` refuses it. Only ``active`` mailboxes in ``active`` domains of
``active`` tenants may log in.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECEIVING = "('active', 'suspended')"

# No active forwarding alias without keep_copy for this mailbox. Postfix returns every
# row for a key and joins them, so an identity row would always keep a local copy.
_NOT_FORWARDED = (
    "NOT EXISTS (SELECT 1 FROM aliases f WHERE f.source = m.email "
    "AND f.active = TRUE AND f.keep_copy = FALSE)"
)

# The local part of an address at domain d, with its '@' ('' + '@' for a catch-all).
_LOCAL_AT_A = "substr(a.source, 1, length(a.source) - length(d.name))"
_LOCAL_AT_M = "substr(m.email, 1, length(m.email) - length(d.name))"

VIEWS: dict[str, str] = {
    # virtual_mailbox_domains: receiving domains and the alias domains pointing at them.
    "mp_virtual_domains": f"""
        SELECT d.name AS name FROM domains d WHERE d.status IN {RECEIVING}
        UNION ALL
        SELECT x.name AS name FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        WHERE d.status IN {RECEIVING}
    """,
    # virtual_mailbox_maps: addresses that end in a Maildir. A disabled mailbox is absent,
    # so Postfix refuses it at RCPT time ("User unknown in virtual mailbox table").
    "mp_mailboxes": f"""
        SELECT m.email AS email, m.maildir AS maildir, d.name AS domain
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE m.status IN {RECEIVING} AND d.status IN {RECEIVING}
    """,
    # virtual_alias_maps. Postfix tries user@domain before @domain, so the identity rows
    # keep a catch-all from swallowing existing mailboxes. A disabled mailbox has none (an
    # alias row would make it "listed", accepted, then bounced); mp_refused_recipients
    # refuses it at RCPT time even where a catch-all exists. Alias-domain rows exist only
    # where the target address exists, so unknown users at an alias domain are still
    # refused at RCPT time.
    "mp_virtual_aliases": f"""
        SELECT a.source AS source, t.address AS destination, d.name AS domain
        FROM aliases a JOIN domains d ON d.id = a.domain_id
        JOIN alias_destinations t ON t.alias_id = a.id
        WHERE a.active = TRUE AND d.status IN {RECEIVING}
        UNION ALL
        SELECT m.email AS source, m.email AS destination, d.name AS domain
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE m.status IN {RECEIVING} AND d.status IN {RECEIVING} AND {_NOT_FORWARDED}
        UNION ALL
        SELECT {_LOCAL_AT_A} || x.name AS source, t.address AS destination, x.name AS domain
        FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        JOIN aliases a ON a.domain_id = d.id
        JOIN alias_destinations t ON t.alias_id = a.id
        WHERE a.active = TRUE AND d.status IN {RECEIVING}
        UNION ALL
        SELECT {_LOCAL_AT_M} || x.name AS source, m.email AS destination, x.name AS domain
        FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        JOIN mailboxes m ON m.domain_id = d.id
        WHERE m.status IN {RECEIVING} AND d.status IN {RECEIVING} AND {_NOT_FORWARDED}
    """,
    # check_recipient_access: disabled mailboxes (and their alias-domain addresses) are
    # refused with RFC 3463 5.2.1 before any catch-all could accept them.
    "mp_refused_recipients": f"""
        SELECT m.email AS address, d.name AS domain
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE m.status = 'disabled' AND d.status IN {RECEIVING}
        UNION ALL
        SELECT {_LOCAL_AT_M} || x.name AS address, x.name AS domain
        FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        JOIN mailboxes m ON m.domain_id = d.id
        WHERE m.status = 'disabled' AND d.status IN {RECEIVING}
    """,
    # smtpd_sender_login_maps: which SASL login may use which envelope sender: its own
    # address, addresses of aliases that deliver to it, and both at alias domains.
    # Catch-alls grant nothing: owning @domain is not owning every address there.
    "mp_sender_logins": f"""
        SELECT m.email AS sender, m.email AS login, d.name AS domain
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        UNION ALL
        SELECT a.source AS sender, t.address AS login, d.name AS domain
        FROM aliases a JOIN domains d ON d.id = a.domain_id
        JOIN alias_destinations t ON t.alias_id = a.id
        WHERE a.active = TRUE AND a.source NOT LIKE '@%'
        UNION ALL
        SELECT {_LOCAL_AT_M} || x.name AS sender, m.email AS login, x.name AS domain
        FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        JOIN mailboxes m ON m.domain_id = d.id
        UNION ALL
        SELECT {_LOCAL_AT_A} || x.name AS sender, t.address AS login, x.name AS domain
        FROM alias_domains x JOIN domains d ON d.id = x.domain_id
        JOIN aliases a ON a.domain_id = d.id
        JOIN alias_destinations t ON t.alias_id = a.id
        WHERE a.active = TRUE AND a.source NOT LIKE '@%'
    """,
    # Dovecot passdb: suspended (mailbox, domain or tenant) means no login anywhere.
    "mp_dovecot_passdb": """
        SELECT m.email AS username, m.password_hash AS password
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        JOIN tenants n ON n.id = m.tenant_id
        WHERE m.status = 'active' AND d.status = 'active' AND n.status = 'active'
    """,
    # Dovecot userdb: every mailbox that receives, suspended ones included, because LMTP
    # delivery looks the recipient up here. quota_mb 0 means no limit (storage=0).
    "mp_dovecot_userdb": f"""
        SELECT m.email AS username, m.maildir AS maildir,
               '*:storage=' || CAST(m.quota_mb AS TEXT) || 'M' AS quota_rule
        FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE m.status IN {RECEIVING} AND d.status IN {RECEIVING}
    """,
}


def upgrade() -> None:
    for name, body in VIEWS.items():
        # text() would read ":storage" as a bind parameter; escape every colon.
        sql = f"CREATE VIEW {name} AS {body.strip()}".replace(":", "\\:")
        op.execute(sa.text(sql))


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
