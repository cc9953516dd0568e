"""The public pages refuse made-up and altered tokens with a 404 page; the send API
refuses bulk mail without a one-click target, a List-Id that is not a token, and a From
that is not the signing domain."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient

from mailplane.config import Settings
from mailplane.unsubscribe import tokens
from tests.support.senders import Sender

BULK = {"subject": "News", "text": "Hello", "type": "bulk"}


def _altered(token: str) -> str:
    position = secrets.randbelow(len(token) - 1)
    swapped = "b" if token[position] != "b" else "c"
    return token[:position] + swapped + token[position + 1 :]


def test_made_up_and_altered_tokens_get_a_404_page_never_a_500(
    client: TestClient, settings: Settings
) -> None:
    other_key = tokens.derive_key("another platform's secret, at least 32 characters")
    genuine = tokens.make(tokens.derive_key(settings.effective_secret()), 2**40)
    for token in (
        tokens.make(other_key, 1),  # another secret
        _altered(genuine),
        genuine[:-1],
        genuine + "a",
        "a" * tokens.TOKEN_LENGTH,
        "%C3%A9" * 13,
        "x" * 5000,
    ):
        for method in ("GET", "POST"):
            response = client.request(method, f"/unsubscribe/{token}")
            assert response.status_code == 404, (token, method, response.status_code)
            assert "not valid" in response.text
            assert "set-cookie" not in response.headers
            assert "default-src 'none'" in response.headers["content-security-policy"]
    # A well-formed token of a delivery that does not exist: the same page.
    assert client.post(f"/unsubscribe/{genuine}").status_code == 404


def test_the_one_click_body_is_small(client: TestClient, settings: Settings) -> None:
    token = tokens.make(tokens.derive_key(settings.effective_secret()), 2**40)
    response = client.post(f"/unsubscribe/{token}", content=b"x" * 5000)
    assert response.status_code == 413


@pytest.mark.parametrize(
    "fields",
    [
        {"unsubscribe": "own"},
        {"unsubscribe": "own", "headers": {"List-Unsubscribe": "<https://x.test/u/1>"}},
        {
            "unsubscribe": "own",
            "headers": {
                "List-Unsubscribe": "<http://x.test/u/1>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        },
        {"headers": {"List-Unsubscribe": "<mailto:leave@x.test>"}},
        {"headers": {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}},
    ],
)
def test_bulk_mail_without_a_one_click_target_is_refused(
    sender: Sender, fields: dict[str, object]
) -> None:
    body = {"from": f"news@{sender.domain}", "to": ["a@example.com"], **BULK, **fields}
    response = sender.send(body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "unsubscribe_required"
    assert "List-Unsubscribe" in response.json()["detail"]


@pytest.mark.parametrize(
    "list_id", ["news\r\nBcc: x@evil.test", "news letter", "", "a" * 101, "..", "n>ws", "né"]
)
def test_a_list_id_is_a_short_token(sender: Sender, list_id: str) -> None:
    body = {"from": f"news@{sender.domain}", "to": ["a@example.com"], **BULK, "list_id": list_id}
    response = sender.send(body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"


def test_list_id_is_for_bulk_mail_and_from_must_be_the_signing_domain(sender: Sender) -> None:
    body = {"from": f"news@{sender.domain}", "to": ["a@example.com"], "text": "hi"}
    response = sender.send({**body, "type": "transactional", "list_id": "news"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_list_id"
    # The header From is the key's (signing) domain: anything else, even a subdomain, is
    # refused before it could leave misaligned.
    for origin in (f"news@other-{sender.domain}", f"news@sub.{sender.domain}"):
        response = sender.send({**body, **BULK, "from": origin})
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "from_domain_not_allowed"
