"""Bulk mail leaves with a per-recipient one-click unsubscribe that DKIM covers, and the
click (as Gmail sends it: a form-encoded POST, no login, no cookies) stops the mail."""

from __future__ import annotations

import re

import dkim
from fastapi.testclient import TestClient

from mailplane.config import Settings
from mailplane.db import Database
from tests.delivery.conftest import EngineSettings
from tests.delivery.support import deliver, knot_txt
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx
from tests.unsubscribe.support import (
    PUBLIC_URL,
    bulk_sender,
    engine,
    headers_of,
    list_unsubscribes,
    one_click_path,
    send,
    suppression,
)

ONE_CLICK = {"content": b"List-Unsubscribe=One-Click"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _click(client: TestClient, path: str) -> str:
    response = client.post(path, headers=FORM, **ONE_CLICK)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert "set-cookie" not in response.headers
    return response.text


def _signed_names(data: bytes) -> list[str]:
    signature = re.sub(r"\s+", "", headers_of(data)["DKIM-Signature"])
    match = re.search(r"h=([^;]+);", signature)
    assert match, signature
    return match.group(1).split(":")


def test_bulk_mail_carries_signed_one_click_links_and_a_click_suppresses(
    api: Api,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    engine_settings: EngineSettings,
    settings: Settings,
    uid: str,
) -> None:
    sender = bulk_sender(api, database, knot)
    first, second = f"ok-a-{uid}@{sender.domain}", f"ok-b-{uid}@{sender.domain}"
    sent = send(sender, [first, second], type="bulk")
    rows = deliver(engine(engine_settings, settings), database, [r["id"] for r in sent])
    assert [r.status for r in rows] == ["delivered", "delivered"]
    [to_first], [to_second] = mx1.to(first), mx1.to(second)
    for received in (to_first, to_second):
        shown = headers_of(received.data)
        assert shown["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        value = shown["List-Unsubscribe"]
        assert value.startswith(f"<{PUBLIC_URL}/unsubscribe/")
        assert ", <mailto:unsubscribe+" in value
        assert "\r\n" not in value
        assert "\n" not in value
        assert {"list-unsubscribe", "list-unsubscribe-post"} <= set(_signed_names(received.data))
        assert dkim.verify(received.data, dnsfunc=knot_txt(knot))
        # The token shows nothing of the address.
        assert first.split("@")[0] not in value
        assert second.split("@")[0] not in value
    path = one_click_path(to_first.data)
    assert path != one_click_path(to_second.data)

    # The page asks first (a GET changes nothing: link scanners open URLs).
    page = api.client.get(path)
    assert page.status_code == 200
    assert "set-cookie" not in page.headers
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<form method="post">' in page.text
    assert "<script" not in page.text
    assert first in page.text
    assert suppression(database, sender.tenant_id, first) is None

    assert "Done" in _click(api.client, path)
    entry = suppression(database, sender.tenant_id, first)
    assert entry is not None
    assert entry.reason == "unsubscribed"
    assert entry.expires_at is None
    # Idempotent; and the page's own button (an empty body) works as well.
    response = api.client.post(path)
    assert response.status_code == 200
    shown = api.ok(
        "GET", "/api/v1/suppressions", params={"tenant_id": sender.tenant_id, "q": first}
    )
    assert [i["reason"] for i in shown["items"]] == ["unsubscribed"]
    listed = api.ok(
        "GET",
        "/api/v1/suppressions",
        params={"tenant_id": sender.tenant_id, "reason": "unsubscribed"},
    )
    assert [i["address"] for i in listed["items"]] == [first]

    # The next bulk send to them is suppressed and never reaches the MX; the other
    # recipient still gets it.
    again = send(sender, [first, second], type="bulk")
    assert [r["status"] for r in again] == ["suppressed", "queued"]
    rows = deliver(engine(engine_settings, settings), database, [r["id"] for r in again])
    assert [r.status for r in rows] == ["suppressed", "delivered"]
    assert "suppression list (unsubscribed)" in (rows[0].last_reply or "")
    assert len(mx1.to(first)) == 1
    assert len(mx1.to(second)) == 2


def test_transactional_mail_and_mail_with_its_own_target_get_nothing_added(
    api: Api,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    engine_settings: EngineSettings,
    settings: Settings,
    uid: str,
) -> None:
    sender = bulk_sender(api, database, knot)
    receipt, own = f"ok-t-{uid}@{sender.domain}", f"ok-o-{uid}@{sender.domain}"
    theirs = f"<https://lists.example.test/u/{uid}>"
    sent = send(sender, [receipt], type="transactional") + send(
        sender,
        [own],
        type="bulk",
        unsubscribe="own",
        headers={
            "List-Unsubscribe": theirs,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    rows = deliver(engine(engine_settings, settings), database, [r["id"] for r in sent])
    assert [r.status for r in rows] == ["delivered", "delivered"]
    [transactional], [with_own] = mx1.to(receipt), mx1.to(own)
    assert b"List-Unsubscribe" not in transactional.data
    assert headers_of(with_own.data).get_all("List-Unsubscribe") == [theirs]
    assert "list-unsubscribe" in _signed_names(with_own.data)
    assert dkim.verify(with_own.data, dnsfunc=knot_txt(knot))
    assert dkim.verify(transactional.data, dnsfunc=knot_txt(knot))


def test_leaving_a_list_stops_only_that_list(
    api: Api,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    engine_settings: EngineSettings,
    settings: Settings,
    uid: str,
) -> None:
    sender = bulk_sender(api, database, knot)
    reader = f"ok-l-{uid}@{sender.domain}"
    news = send(sender, [reader], type="bulk", list_id="news")
    settings_now = engine(engine_settings, settings)
    [row] = deliver(settings_now, database, [news[0]["id"]])
    assert row.status == "delivered"
    [received] = mx1.to(reader)
    assert headers_of(received.data)["List-Id"] == f"<news.{sender.domain}>"
    assert "list-unsubscribe" in _signed_names(received.data)
    # Queued before the click, sent after it: withheld when a worker claims it.
    waiting = send(sender, [reader], type="bulk", list_id="news")
    assert "the list <strong>news</strong>" in _click(api.client, one_click_path(received.data))
    assert list_unsubscribes(database, sender.tenant_id) == [("news", reader, "one-click")]
    assert suppression(database, sender.tenant_id, reader) is None

    later = send(sender, [reader], type="bulk", list_id="news")
    assert [r["status"] for r in later] == ["suppressed"]
    offers = send(sender, [reader], type="bulk", list_id="offers")
    receipt = send(sender, [reader], type="transactional")
    ids = [r["id"] for r in waiting + later + offers + receipt]
    rows = deliver(settings_now, database, ids)
    assert [r.status for r in rows] == ["suppressed", "suppressed", "delivered", "delivered"]
    assert "unsubscribed from the list news" in (rows[0].last_reply or "")
    assert "unsubscribed from the list news" in (rows[1].last_reply or "")
    assert len(mx1.to(reader)) == 3
    # What the tenant sees for the withheld message.
    shown = sender.api.client.get(
        f"/api/v1/messages/{waiting[0]['message']}", headers=sender.headers()
    )
    [recipient] = shown.json()["recipients"]
    assert recipient["status"] == "suppressed"
    assert "unsubscribed from the list news" in recipient["last_reply"]
