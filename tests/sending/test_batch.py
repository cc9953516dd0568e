"""POST /api/v1/send/batch: a result per message; the valid ones queued together."""

from __future__ import annotations

from sqlalchemy import func, select

from mailplane.db import Database
from mailplane.models import Delivery, OutboundMessage
from tests.support.senders import Sender


def test_mixed_valid_and_invalid_items(sender: Sender, database: Database) -> None:
    good = {"from": f"a@{sender.domain}", "subject": "s", "text": "t"}
    messages = [
        {**good, "to": [f"u{i}@example.com" for i in range(50)]},
        {**good, "to": ["x@example.com"], "subject": "bad\r\nBcc: v@example.com"},
        {**good, "from": "a@elsewhere.example", "to": ["x@example.com"]},
        {**good, "to": ["y@example.com"], "unknown": 1},
        {**good, "to": ["z@example.com"], "bcc": ["hidden@example.com"]},
    ]
    response = sender.api.client.post(
        "/api/v1/send/batch", json={"messages": messages}, headers=sender.headers()
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 3)
    statuses = [(r["index"], r["status"]) for r in answer["results"]]
    assert statuses == [(0, 202), (1, 422), (2, 403), (3, 422), (4, 202)]
    assert answer["results"][2]["error"]["error"] == "from_domain_not_allowed"
    assert answer["results"][1]["error"]["error"] == "invalid_request"
    assert len(answer["results"][0]["result"]["recipients"]) == 50
    assert response.headers["ratelimit-remaining"]
    with database.session(write=False) as session:
        messages_stored = session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.domain_id == sender.domain_id)
        )
        deliveries = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .join(OutboundMessage, OutboundMessage.id == Delivery.message_id)
            .where(OutboundMessage.domain_id == sender.domain_id)
        )
    assert (messages_stored, deliveries) == (2, 52)
    # Each answered id is that recipient's delivery, in that message.
    answered = {
        r["id"]: (item["result"]["id"], r["email"])
        for item in answer["results"]
        if item["status"] == 202
        for r in item["result"]["recipients"]
    }
    with database.session(write=False) as session:
        stored = {
            row.id: (row.message_id, row.recipient)
            for row in session.scalars(select(Delivery).where(Delivery.id.in_(answered)))
        }
    assert stored == answered


def test_batch_limits(sender: Sender) -> None:
    good = {"from": f"a@{sender.domain}", "to": ["x@example.com"], "subject": "s", "text": "t"}
    too_many = sender.api.client.post(
        "/api/v1/send/batch", json={"messages": [good] * 501}, headers=sender.headers()
    )
    assert (too_many.status_code, too_many.json()["error"]) == (422, "batch_too_large")
    empty = sender.api.client.post(
        "/api/v1/send/batch", json={"messages": []}, headers=sender.headers()
    )
    assert empty.status_code == 422
