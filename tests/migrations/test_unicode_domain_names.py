"""Migration 0008 fills the U-label form of IDN domains that existed before it, which the
SMTPUTF8 sender check (mp_unicode_domains) depends on."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mailplane import migrations
from mailplane.db import normalize_url
from tests.conftest import make_settings


@pytest.fixture
def empty_database_url(database_url: str | None) -> Iterator[str]:
    if database_url is None:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'm.sqlite'}"
        return
    name = f"m_{secrets.token_hex(4)}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield database_url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_existing_idn_domains_get_their_unicode_form(empty_database_url: str) -> None:
    settings = make_settings(Path(tempfile.gettempdir()), empty_database_url)
    migrations.upgrade(settings, "0003")
    engine = create_engine(normalize_url(empty_database_url))
    now = "2026-01-01 00:00:00+00:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tenants (id, name, status, notes, created_at, updated_at) "
                "VALUES (1, 't', 'active', '', :now, :now)"
            ),
            {"now": now},
        )
        for domain_id, name in ((1, "xn--bckerei-5wa.test"), (2, "plain.test")):
            connection.execute(
                text(
                    "INSERT INTO domains (id, tenant_id, name, status, verification_status, "
                    "dns_automation, dns_settings, created_at, updated_at) VALUES "
                    "(:id, 1, :name, 'active', 'pending', 'manual', '{}', :now, :now)"
                ),
                {"id": domain_id, "name": name, "now": now},
            )
        connection.execute(
            text(
                "INSERT INTO alias_domains (id, tenant_id, domain_id, name, created_at) "
                "VALUES (1, 1, 2, 'xn--mller-kva.test', :now)"
            ),
            {"now": now},
        )
    migrations.upgrade(settings)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT unicode_name, name FROM mp_unicode_domains ORDER BY name")
        ).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("bäckerei.test", "xn--bckerei-5wa.test"),
        ("müller.test", "xn--mller-kva.test"),
    ]
