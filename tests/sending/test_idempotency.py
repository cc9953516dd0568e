"""Idempotency-Key: one send per key and body, the first answer again, 409 for another body."""

from __future__ import annotations

import threading

import httpx

from mailplane.config import Settings
from mailplane.db import Database
from tests.support.api import Api
from tests.support.live_api import live_api
from tests.support.senders import Sender, make_sender, messages_of


def test_replay_and_conflict(sender: Sender, database: Database) -> None:
    body = {"from": f"a@{sender.domain}", "to": ["x@example.com"], "subject": "s", "text": "t"}
    first = sender.send(body, **{"Idempotency-Key": "order-1"})
    again = sender.send(body, **{"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert messages_of(database, sender.domain_id) == 1

    other = sender.send({**body, "subject": "other"}, **{"Idempotency-Key": "order-1"})
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_conflict")
    # Another key name is another message; so is the same name under another API key.
    assert sender.send(body, **{"Idempotency-Key": "order-2"}).status_code == 202
    assert messages_of(database, sender.domain_id) == 2

    bad = sender.send(body, **{"Idempotency-Key": "x" * 300})
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_idempotency_key")


def test_concurrent_requests_with_one_key_send_once(
    api: Api, database: Database, settings: Settings
) -> None:
    """Two real API processes, 16 clients, one Idempotency-Key: one message, one answer."""
    sender = make_sender(api, database)
    body = {"from": f"a@{sender.domain}", "to": ["x@example.com"], "subject": "s", "text": "t"}
    headers = sender.headers(**{"Idempotency-Key": "same-for-all"})
    answers: list[httpx.Response] = []
    with live_api(settings) as first, live_api(settings) as second:
        barrier = threading.Barrier(16)

        def post(url: str) -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                barrier.wait()
                answers.append(client.post("/api/v1/send", json=body, headers=headers))

        threads = [
            threading.Thread(target=post, args=(first if i % 2 else second,)) for i in range(16)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert {a.status_code for a in answers} == {202}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert messages_of(database, sender.domain_id) == 1
