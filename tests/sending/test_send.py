"""POST /api/v1/send: what lands in the queue, and what is refused before anything does."""

from __future__ import annotations

import base64
import email
from collections.abc import Callable
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from mailplane.db import Database
from mailplane.models import Delivery, OutboundMessage, utcnow
from tests.support.api import Api
from tests.support.senders import Sender, make_sender, mark_verified, messages_of


def _stored(database: Database, message_id: str) -> tuple[OutboundMessage, list[Delivery]]:
    with database.session(write=False) as session:
        message = session.get(OutboundMessage, message_id)
        assert message is not None
        rows = list(session.scalars(select(Delivery).where(Delivery.message_id == message_id)))
    return message, rows


def _parsed(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_happy_path(sender: Sender, database: Database) -> None:
    body = {
        "from": {"email": f"News@{sender.domain}", "name": "Jörg Müller"},
        "to": ["Alice <alice@example.com>", "bob@example.org"],
        "cc": ["carol@example.net"],
        "bcc": ["secret@example.com"],
        "reply_to": f"help@{sender.domain}",
        "subject": "Grüße aus Köln",
        "html": "<h1>Hallo</h1><p>Ein <b>Test</b>.</p>",
        "headers": {"X-Campaign": "autumn", "List-Unsubscribe": "<mailto:u@example.com>"},
        "tags": ["welcome"],
        "metadata": {"user": 42},
    }
    response = sender.send(body)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["message_id"].startswith("<")
    assert answer["message_id"].endswith(f"@{sender.domain}>")
    assert [r["email"] for r in answer["recipients"]] == [
        "alice@example.com",
        "bob@example.org",
        "carol@example.net",
        "secret@example.com",
    ]
    assert {r["status"] for r in answer["recipients"]} == {"queued"}
    assert "RateLimit-Remaining" in response.headers

    message, deliveries = _stored(database, answer["id"])
    assert sorted(d.recipient for d in deliveries) == sorted(
        r["email"] for r in answer["recipients"]
    )
    assert {d.id for d in deliveries} == {r["id"] for r in answer["recipients"]}
    assert message.sign_domain == sender.domain
    assert message.envelope_from == f"news@{sender.domain}"
    assert message.tags == ["welcome"]
    assert message.message_metadata == {"user": 42}
    assert b"\r\n" in message.raw
    assert b"\n" not in message.raw.replace(b"\r\n", b"")
    assert b"secret@example.com" not in message.raw  # Bcc is an envelope, never a header
    parsed = _parsed(message.raw)
    assert parsed["Subject"] == "Grüße aus Köln"
    assert parsed["From"] == f"Jörg Müller <news@{sender.domain}>"
    assert parsed["Message-ID"] == answer["message_id"]
    assert parsed["Date"]
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["X-Campaign"] == "autumn"
    assert parsed["Bcc"] is None
    text = parsed.get_body(preferencelist=("plain",))
    assert text is not None
    assert "Hallo" in text.get_content()


def test_attachments_inline_and_files(sender: Sender, database: Database) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    body = {
        "from": f"a@{sender.domain}",
        "to": ["x@example.com"],
        "subject": "files",
        "html": '<p><img src="cid:logo"></p>',
        "text": "see attached",
        "attachments": [
            {
                "filename": "logo.png",
                "content": base64.b64encode(png).decode(),
                "content_type": "image/png",
                "content_id": "logo",
            },
            {
                "filename": "Bericht ü.pdf",
                "content": base64.b64encode(b"%PDF-1.4").decode(),
                "content_type": "application/pdf",
            },
        ],
    }
    response = sender.send(body)
    assert response.status_code == 202, response.text
    message, _ = _stored(database, response.json()["id"])
    parsed = _parsed(message.raw)
    parts = {p.get_filename(): p for p in parsed.walk() if p.get_filename()}
    assert parts["logo.png"].get_content() == png
    assert parts["logo.png"]["Content-ID"] == "<logo>"
    assert parts["Bericht ü.pdf"].get_content() == b"%PDF-1.4"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"attachments": [{"filename": "a", "content": "not base64!"}]}, "invalid_attachment"),
        ({"headers": {"From": "evil@example.com"}}, "reserved_header"),
        ({"headers": {"DKIM-Signature": "v=1"}}, "reserved_header"),
        ({"headers": {"Received": "from x"}}, "reserved_header"),
        ({"headers": {"Content-Type": "text/plain"}}, "reserved_header"),
        ({"to": [], "cc": [], "bcc": []}, "no_recipients"),
        ({"to": [f"u{i}@example.com" for i in range(101)]}, "too_many_recipients"),
        ({"to": ["not an address"]}, "invalid_address"),
        ({"html": None, "text": None}, "no_body"),
        ({"metadata": {"big": "x" * 5000}}, "metadata_too_large"),
        ({"send_at": "2999-01-01T00:00:00Z"}, "send_at_too_far"),
    ],
)
def test_refused_with_a_code_and_nothing_queued(
    sender: Sender, database: Database, change: dict[str, Any], code: str
) -> None:
    body = {"from": f"a@{sender.domain}", "to": ["x@example.com"], "subject": "s", "text": "t"}
    response = sender.send({**body, **change})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code
    assert messages_of(database, sender.domain_id) == 0


FIELDS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "from": lambda v, d: {"from": f"a{v}@{d}"},
    "from.name": lambda v, d: {"from": {"email": f"a@{d}", "name": f"A{v}B"}},
    "from.display": lambda v, d: {"from": f"A{v}B <a@{d}>"},
    "to": lambda v, d: {"to": [f"x{v}@example.com"]},
    "to.name": lambda v, d: {"to": [{"email": "x@example.com", "name": f"X{v}Bcc: y@z.com"}]},
    "cc": lambda v, d: {"cc": [f"c{v}@example.com"]},
    "bcc": lambda v, d: {"bcc": [f"b{v}@example.com"]},
    "reply_to": lambda v, d: {"reply_to": f"r{v}@example.com"},
    "subject": lambda v, d: {"subject": f"Hi{v}Bcc: victim@example.com"},
    "header value": lambda v, d: {"headers": {"X-Note": f"a{v}Bcc: victim@example.com"}},
    "header name": lambda v, d: {"headers": {f"X-A{v}Bcc": "x"}},
    "tags": lambda v, d: {"tags": [f"t{v}x"]},
    "filename": lambda v, d: {"attachments": [{"filename": f"a{v}.txt", "content": "eA=="}]},
    "content_type": lambda v, d: {
        "attachments": [{"filename": "a.txt", "content": "eA==", "content_type": f"text/plain{v}x"}]
    },
    "content_id": lambda v, d: {
        "html": "<p>x</p>",
        "attachments": [{"filename": "a.png", "content": "eA==", "content_id": f"a{v}b"}],
    },
}


@pytest.mark.parametrize("char", ["\r\n", "\n", "\r", "\x00", "\u2028"])
@pytest.mark.parametrize("field", sorted(FIELDS))
def test_control_characters_in_every_field(
    sender: Sender, database: Database, field: str, char: str
) -> None:
    body = {"from": f"a@{sender.domain}", "to": ["x@example.com"], "subject": "s", "text": "t"}
    response = sender.send({**body, **FIELDS[field](char, sender.domain)})
    assert response.status_code == 422, (field, response.text)
    assert response.json()["error"], response.text
    assert messages_of(database, sender.domain_id) == 0


def test_send_at_in_the_past_is_now_and_future_is_scheduled(
    sender: Sender, database: Database
) -> None:
    base = {"from": f"a@{sender.domain}", "to": ["x@example.com"], "subject": "s", "text": "t"}
    past = sender.send({**base, "send_at": "2001-01-01T00:00:00Z"})
    assert past.status_code == 202, past.text
    _, (delivery,) = _stored(database, past.json()["id"])
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at <= utcnow()
    later = (utcnow() + timedelta(hours=2)).isoformat()
    future = sender.send({**base, "send_at": later})
    assert future.status_code == 202, future.text
    message, (scheduled,) = _stored(database, future.json()["id"])
    assert message.send_at is not None
    assert scheduled.next_attempt_at is not None
    assert scheduled.next_attempt_at > utcnow() + timedelta(hours=1)


def test_from_domain_rules(api: Api, database: Database, sender: Sender) -> None:
    base = {"to": ["x@example.com"], "subject": "s", "text": "t"}
    other = make_sender(api, database)
    # Another tenant's domain, and a domain of the same tenant the key is not for.
    response = sender.send({**base, "from": f"a@{other.domain}"})
    assert (response.status_code, response.json()["error"]) == (403, "from_domain_not_allowed")

    unverified = api.domain(sender.tenant_id)
    key = api.ok(
        "POST", f"/api/v1/mail/domains/{unverified['id']}/api-keys", 201, json={"name": "k"}
    )["key"]
    response = api.client.post(
        "/api/v1/send",
        json={**base, "from": f"a@{unverified['domain_ascii']}"},
        headers={"X-Api-Key": key},
    )
    assert (response.status_code, response.json()["error"]) == (403, "domain_not_verified")

    mark_verified(database, unverified["id"], "sending_disabled")
    response = api.client.post(
        "/api/v1/send",
        json={**base, "from": f"a@{unverified['domain_ascii']}"},
        headers={"X-Api-Key": key},
    )
    assert (response.status_code, response.json()["error"]) == (403, "sending_disabled")

    api.ok("PATCH", f"/api/v1/mail/domains/{sender.domain_id}", json={"status": "suspended"})
    response = sender.send({**base, "from": f"a@{sender.domain}"})
    assert (response.status_code, response.json()["error"]) == (403, "domain_inactive")


def test_the_seed_external_endpoint(sender: Sender, database: Database) -> None:
    body = {
        "domain": sender.domain,
        "to": "test@example.com",
        "subject": "Test E-Mail",
        "html": "<h1>Hallo!</h1><p>Dies ist ein Test.</p>",
        "replyTo": f"kontakt@{sender.domain}",
    }
    response = sender.api.client.post(
        "/api/send/external", json=body, headers={"X-Api-Key": sender.key}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] is True
    assert answer["messageId"].endswith(f"@{sender.domain}>")
    with database.session(write=False) as session:
        message = session.scalar(
            select(OutboundMessage).where(OutboundMessage.message_id_header == answer["messageId"])
        )
        assert message is not None
        parsed = _parsed(message.raw)
    assert parsed["From"] == f"noreply@{sender.domain}"
    assert parsed["Reply-To"] == f"kontakt@{sender.domain}"
    # Without a key, the seed's request is refused: an Origin never authenticates.
    anonymous = sender.api.client.post(
        "/api/send/external", json=body, headers={"Origin": f"https://{sender.domain}"}
    )
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "missing_api_key")
    wrong = sender.api.client.post(
        "/api/send/external",
        json={**body, "domain": "other.example"},
        headers={"X-Api-Key": sender.key},
    )
    assert (wrong.status_code, wrong.json()["error"]) == (403, "domain_mismatch")


def test_the_operator_sets_a_tenants_send_rate(api: Api, database: Database) -> None:
    """The platform default (100/hour) is the operator's to raise or lower per tenant,
    through the tenant's limits; the tenant's own admin cannot."""
    sender = make_sender(api, database, rate_per_hour=None)
    path = f"/api/v1/tenants/{sender.tenant_id}"
    limits = api.ok("PATCH", path, json={"limits": {"send_rate_per_hour": 3}})["limits"]
    assert limits["send_rate_per_hour"] == 3
    body = {"from": f"a@{sender.domain}", "subject": "s", "text": "t"}
    accepted = sender.send({**body, "to": ["one@example.com", "two@example.com"]})
    assert accepted.status_code == 202
    assert accepted.headers["RateLimit-Limit"] == "3"
    refused = sender.send({**body, "to": ["three@example.com", "four@example.com"]})
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    admin = api.tenant_admin(sender.tenant_id)
    response = admin.patch(path, json={"limits": {"send_rate_per_hour": 100000}})
    assert response.status_code == 403
