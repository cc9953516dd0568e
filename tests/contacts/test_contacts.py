"""Contacts: recorded by upsert (also concurrently), ranked for autocomplete, forgotten."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from mailplane.contacts import service
from mailplane.db import Database
from mailplane.models import Contact
from tests.support.api import Api
from tests.support.mailbox_users import WebUser, web_user

NOW = datetime.now(UTC)
AUTOCOMPLETE = "/api/v1/mail/contacts/autocomplete"


def record(
    database: Database,
    user: WebUser,
    entries: list[tuple[str, str]],
    direction: service.Direction,
    now: datetime = NOW,
) -> None:
    with database.transaction() as session:
        service.record(session, user.tenant_id, user.mailbox_id, entries, direction, now)


def suggest(user: WebUser, q: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = user.web.ok("GET", AUTOCOMPLETE, params={"q": q, **params})[
        "items"
    ]
    return items


def test_ranked_by_use_and_recency(api: Api, database: Database) -> None:
    user = web_user(api)
    record(database, user, [("alice@example.com", "Alice Liddell")], "sent")
    record(database, user, [("alice@example.com", "")], "sent")  # keeps the name
    record(database, user, [("natalie@example.com", "Natalie Wood")], "received")
    record(database, user, [("ALINA@Example.com", "Alina")], "received", NOW - timedelta(days=90))
    found = suggest(user, "ali")
    assert [c["address"] for c in found] == [
        "alice@example.com",  # 2 sends x 2, a prefix
        "natalie@example.com",  # 1 received, a substring
        "alina@example.com",  # 1 received, a prefix, but 90 days old: 2 x 1/8
    ]
    alice = found[0]
    assert (alice["name"], alice["sent_count"], alice["received_count"]) == ("Alice Liddell", 2, 0)
    assert alice["score"] == pytest.approx(8.0, rel=1e-3)  # decays while the test runs
    assert [c["address"] for c in suggest(user, "LIDDELL")] == ["alice@example.com"]
    assert len(suggest(user, "example", limit=2)) == 2
    assert suggest(user, "%") == []
    assert suggest(user, "_") == []


def test_invalid_addresses_are_skipped_and_idn_is_normalized(api: Api, database: Database) -> None:
    user = web_user(api)
    record(
        database,
        user,
        [("not an address", "X"), ("leser@Bücher.example", "Leser\r\nBcc: x"), ("", "")],
        "received",
    )
    found = suggest(user, "bücher")
    assert [c["address"] for c in found] == ["leser@xn--bcher-kva.example"]
    assert found[0]["name"] == "Leser Bcc: x"
    assert suggest(user, "leser@bücher.example")[0]["address"] == "leser@xn--bcher-kva.example"


def test_concurrent_records_all_count(api: Api, database: Database) -> None:
    user = web_user(api)
    addresses = [(f"friend{i}@example.com", "") for i in range(5)]

    def one(i: int) -> None:
        record(database, user, addresses[i % 5 :] + addresses[: i % 5], "sent")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(40)))
    with database.session(write=False) as session:
        counts = session.scalars(
            select(Contact.sent_count).where(Contact.mailbox_id == user.mailbox_id)
        ).all()
    assert sorted(counts) == [40] * 5


def test_forget_and_isolation(api: Api, database: Database) -> None:
    alice = web_user(api)
    mallory = web_user(api)
    record(database, alice, [("secret@partner.test", "Secret Partner")], "sent")
    contact = suggest(alice, "secret")[0]
    assert suggest(mallory, "secret") == []
    path = f"/api/v1/mail/contacts/{contact['id']}"
    assert mallory.web.delete(path).status_code == 404
    assert suggest(alice, "secret")[0]["id"] == contact["id"]
    alice.web.ok("DELETE", path, 204)
    assert suggest(alice, "secret") == []
    assert alice.web.delete(path).status_code == 404


def test_bad_queries(api: Api) -> None:
    user = web_user(api)
    assert user.web.get(AUTOCOMPLETE).status_code == 422
    assert user.web.get(AUTOCOMPLETE, params={"q": "a", "limit": 0}).status_code == 422
    assert user.web.get(AUTOCOMPLETE, params={"q": "a", "limit": 51}).status_code == 422
    assert user.web.get(AUTOCOMPLETE, params={"q": "a\nb"}).status_code == 422
