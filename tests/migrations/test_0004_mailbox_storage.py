"""Migration 0004 on a database with mailboxes: each gets its own storage_id, keeps its
Maildir where it is, and its deletion keeps that path for the purge; the address created
again gets a path of its own."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mailplane import migrations
from mailplane.auth.principals import SYSTEM
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.mailboxes import service
from mailplane.mailboxes.schemas import MailboxCreate
from mailplane.models import DeletedMailbox, Mailbox, utcnow
from tests.conftest import make_settings


@pytest.fixture
def fresh(tmp_path: Path, db_kind: str, database_url: str | None) -> Iterator[Settings]:
    """Settings for an empty database of its own."""
    if db_kind == "sqlite":
        yield make_settings(tmp_path, None)
        return
    assert database_url is not None
    name = f"mig_{secrets.token_hex(4)}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield make_settings(tmp_path, database_url.rsplit("/", 1)[0] + "/" + name)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _old_rows(settings: Settings) -> None:
    """A tenant, a domain and two mailboxes as revision 0003 stored them."""
    meta = sa.MetaData()
    engine = sa.create_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        meta.reflect(connection, only=["tenants", "domains", "mailboxes"])
    now = utcnow()
    stamps = {"created_at": now, "updated_at": now}
    with engine.begin() as connection:
        connection.execute(
            meta.tables["tenants"].insert(),
            [{"id": 1, "name": "old", "status": "active", "notes": "", **stamps}],
        )
        connection.execute(
            meta.tables["domains"].insert(),
            [
                {
                    "id": 1,
                    "tenant_id": 1,
                    "name": "old.test",
                    "status": "active",
                    "verification_status": "pending",
                    "dns_automation": "manual",
                    "dns_settings": {},
                    **stamps,
                }
            ],
        )
        connection.execute(
            meta.tables["mailboxes"].insert(),
            [
                {
                    "id": number,
                    "tenant_id": 1,
                    "domain_id": 1,
                    "local_part": local,
                    "email": f"{local}@old.test",
                    "display_name": "",
                    "password_hash": "{BLF-CRYPT}x",
                    "quota_mb": 0,
                    "status": "active",
                    "maildir": f"old.test/{local}/",
                    "password_changed_at": now,
                    **stamps,
                }
                for number, local in ((1, "info"), (2, "sales"))
            ],
        )
    engine.dispose()


def test_existing_mailboxes_get_a_storage_id_and_keep_their_files(fresh: Settings) -> None:
    migrations.upgrade(fresh, "0003")
    _old_rows(fresh)

    migrations.upgrade(fresh)

    database = Database(fresh)
    try:
        with database.transaction() as session:
            rows = session.scalars(sa.select(Mailbox).order_by(Mailbox.id)).all()
            assert [m.maildir for m in rows] == ["old.test/info/", "old.test/sales/"]
            assert len({m.storage_id for m in rows}) == 2
            assert all(len(m.storage_id) == 36 for m in rows)
            userdb = session.execute(sa.text("SELECT username, maildir FROM mp_dovecot_userdb"))
            assert sorted(userdb) == [
                ("info@old.test", "old.test/info/"),
                ("sales@old.test", "old.test/sales/"),
            ]
            service.delete_mailbox(session, SYSTEM, fresh, rows[0].id)
        with database.transaction() as session:
            again = service.create_mailbox(
                session, SYSTEM, fresh, 1, MailboxCreate(local_part="info", password="pw-123456")
            )
            kept = session.scalars(sa.select(DeletedMailbox)).one()
            assert kept.maildir == "old.test/info/"
            assert again.maildir == f"1/{again.storage_id}/"
    finally:
        database.dispose()
