"""Migration 0005 on a database that already hosts mail: existing names keep routing (marked
owned, ``preexisting``), new unproven ones do not, and the downgrade restores 0002's views."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from mailplane import migrations
from mailplane.config import Settings
from mailplane.db import normalize_url
from tests.conftest import make_settings

NOW = "2026-01-01 00:00:00"


@pytest.fixture
def fresh_settings(tmp_path: Path, database_url: str | None) -> Iterator[Settings]:
    """An empty database of the suite's kind, apart from the suite's own."""
    if database_url is None:
        yield make_settings(tmp_path, None)
        return
    name = f"mig_{secrets.token_hex(4)}"
    admin = create_engine(normalize_url(database_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_settings(tmp_path, database_url.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def _engine(settings: Settings) -> Engine:
    return create_engine(normalize_url(settings.resolved_database_url))


def _insert(engine: Engine, domain: str, *, token: bool = False) -> None:
    """A tenant, a domain with an alias domain and a mailbox; ``token`` after 0005."""
    # Constant column lists, never input: hence the S608 exemptions below.
    columns, values = (", ownership_token", ", :token") if token else ("", "")
    with engine.begin() as connection:
        tenant_id = connection.execute(
            text(
                "INSERT INTO tenants (name, status, notes, created_at, updated_at) "
                "VALUES (:name, 'active', '', :now, :now) RETURNING id"
            ),
            {"name": f"t-{domain}", "now": NOW},
        ).scalar_one()
        domain_id = connection.execute(
            text(
                "INSERT INTO domains (tenant_id, name, status, verification_status, "  # noqa: S608
                f"dns_automation, dns_settings, created_at, updated_at{columns}) VALUES "
                f"(:tenant, :name, 'active', 'pending', 'manual', '{{}}', :now, :now{values}) "
                "RETURNING id"
            ),
            {"tenant": tenant_id, "name": domain, "now": NOW, "token": secrets.token_hex(16)},
        ).scalar_one()
        connection.execute(
            text(
                f"INSERT INTO alias_domains (tenant_id, domain_id, name, created_at{columns}) "  # noqa: S608
                f"VALUES (:tenant, :domain, :name, :now{values})"
            ),
            {
                "tenant": tenant_id,
                "domain": domain_id,
                "name": f"alias-{domain}",
                "now": NOW,
                "token": secrets.token_hex(16),
            },
        )
        # After 0005 (so after 0004) a mailbox row carries its storage id.
        storage_column, storage_value = (", storage_id", ", :storage") if token else ("", "")
        connection.execute(
            text(
                "INSERT INTO mailboxes (tenant_id, domain_id, local_part, email, display_name, "  # noqa: S608
                "password_hash, quota_mb, status, maildir, created_at, updated_at, "
                f"password_changed_at{storage_column}) VALUES (:tenant, :domain, 'info', "
                f":email, '', 'x', 0, 'active', :maildir, :now, :now, :now{storage_value})"
            ),
            {
                "tenant": tenant_id,
                "domain": domain_id,
                "email": f"info@{domain}",
                "maildir": f"{domain}/info/",
                "now": NOW,
                "storage": str(uuid.uuid4()),
            },
        )


def _routed(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(text("SELECT name FROM mp_virtual_domains")))


def _logins(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(text("SELECT username FROM mp_dovecot_passdb")))


def test_existing_names_keep_routing_and_new_unproven_ones_do_not(
    fresh_settings: Settings,
) -> None:
    migrations.upgrade(fresh_settings, "0003")
    engine = _engine(fresh_settings)
    try:
        _insert(engine, "before.test")
        assert _routed(engine) == {"before.test", "alias-before.test"}

        migrations.upgrade(fresh_settings, "0005")

        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT ownership_token, owned_at, ownership_method FROM domains")
            ).one()
        assert len(row.ownership_token) == 32
        assert row.owned_at is not None
        assert row.ownership_method == "preexisting"
        assert _routed(engine) == {"before.test", "alias-before.test"}
        assert _logins(engine) == {"info@before.test"}

        _insert(engine, "after.test", token=True)  # as a tenant creates it now: unproven
        assert _routed(engine) == {"before.test", "alias-before.test"}
        assert _logins(engine) == {"info@before.test"}
        with engine.connect() as connection:
            senders = set(connection.scalars(text("SELECT sender FROM mp_sender_logins")))
        assert senders == {"info@before.test", "info@alias-before.test"}

        command.downgrade(migrations.alembic_config(fresh_settings), "0003")

        everything = {"before.test", "alias-before.test", "after.test", "alias-after.test"}
        assert _routed(engine) == everything
    finally:
        engine.dispose()
