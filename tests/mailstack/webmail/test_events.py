"""Live mail events over WebSocket, from each source, against the real stack: a real API
process (uvicorn, the ``websockets`` client), Postfix delivering by SMTP, Dovecot reporting
(push), idling (IDLE) or answering STATUS (poll)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mailplane.api.app import create_app
from mailplane.auth import jwt_tokens
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.live_events.push_client import PUSH_PATH
from tests.mailstack.support import MailStack, message
from tests.mailstack.webmail.conftest import MailUser
from tests.support.api import Api
from tests.support.live_api import api_on_port
from tests.support.ports import free_port

pytestmark = pytest.mark.mailstack

EVENTS = "/api/v1/mail/events"


def _imap_overrides(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        "imap_port": str(settings.imap_port),
        "mail_listen_address": settings.mail_listen_address,
        **extra,
    }


@pytest.fixture(scope="module")
def idle_api(mail_settings: Settings, mailstack: MailStack, mail_api: str) -> Iterator[str]:
    overrides = _imap_overrides(mail_settings, webmail_event_source="idle")
    with api_on_port(mail_settings, free_port(), overrides) as server:
        yield server.url


@pytest.fixture(scope="module")
def poll_api(mail_settings: Settings, mailstack: MailStack, mail_api: str) -> Iterator[str]:
    overrides = _imap_overrides(
        mail_settings,
        webmail_event_source="poll",
        webmail_poll_seconds="1",
        webmail_events_recheck_seconds="1",
    )
    with api_on_port(mail_settings, free_port(), overrides) as server:
        yield server.url


def _ws(base: str) -> str:
    return base.replace("http://", "ws://") + EVENTS


async def _watching(base: str, token: str, source: str) -> dict[str, Any]:
    """Waits until the server watches the mailbox (its IDLE is connected, say)."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        for _ in range(100):
            status = (
                await http.get(
                    "/api/v1/mail/webmail/watchers", headers={"Authorization": f"Bearer {token}"}
                )
            ).json()
            if status["watched"] and status["connected"]:
                assert status["source"] == source
                return dict(status)
            await asyncio.sleep(0.1)
    raise AssertionError(f"never watched: {status}")


async def _next(socket: ClientConnection, seconds: float = 10.0) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), seconds))
    return event


async def _silent(socket: ClientConnection, seconds: float) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(socket.recv(), seconds)


def _check_delivery(
    base: str,
    source: str,
    alice: MailUser,
    bob: MailUser,
    deliver: Callable[[str, str], None],
) -> None:
    async def scenario() -> None:
        auth = {"Authorization": f"Bearer {alice.token}"}
        async with (
            connect(_ws(base), additional_headers=auth) as socket,
            connect(
                _ws(base), additional_headers={"Authorization": f"Bearer {bob.token}"}
            ) as other,
        ):
            await _watching(base, alice.token, source)
            await _watching(base, bob.token, source)
            await asyncio.to_thread(deliver, alice.email, "Quarterly numbers ✓")
            first = await _next(socket)
            second = await _next(socket)
            assert first == {
                "type": "mail.new_message",
                "data": {
                    "folder": "INBOX",
                    "message": {
                        "uid": 1,
                        "from_addr": "carol@outside.test",
                        "subject": "Quarterly numbers ✓",
                    },
                },
            }
            assert second == {
                "type": "mail.folder_update",
                "data": {"folder": "INBOX", "unseen": 1, "exists": 1},
            }
            # Bob's socket hears nothing of Alice's mail.
            await _silent(other, 1.5)
            status = await _watching(base, alice.token, source)
            assert status["last_event_at"] is not None

    asyncio.run(scenario())
    # The sender is now one of Alice's contacts, counted once; not one of Bob's.
    found = alice.web.ok("GET", "/api/v1/mail/contacts/autocomplete", params={"q": "carol"})
    assert [(c["address"], c["name"], c["received_count"]) for c in found["items"]] == [
        ("carol@outside.test", "Carol", 1)
    ]
    nothing = bob.web.ok("GET", "/api/v1/mail/contacts/autocomplete", params={"q": "carol"})
    assert nothing["items"] == []


@pytest.fixture
def deliver(mailstack: MailStack) -> Callable[[str, str], None]:
    def send(rcpt: str, subject: str) -> None:
        mailstack.deliver(message("Carol <carol@outside.test>", rcpt, subject=subject), rcpt)

    return send


def test_push_events(
    mail_api: str, mail_user: Callable[..., MailUser], deliver: Callable[[str, str], None]
) -> None:
    _check_delivery(mail_api, "push", mail_user(), mail_user(), deliver)


def test_idle_events(
    idle_api: str, mail_user: Callable[..., MailUser], deliver: Callable[[str, str], None]
) -> None:
    _check_delivery(idle_api, "idle", mail_user(), mail_user(), deliver)


def test_poll_events(
    poll_api: str, mail_user: Callable[..., MailUser], deliver: Callable[[str, str], None]
) -> None:
    _check_delivery(poll_api, "poll", mail_user(), mail_user(), deliver)


def test_events_reach_sockets_in_other_processes(
    mail_api: str,
    idle_api: str,
    mail_user: Callable[..., MailUser],
    deliver: Callable[[str, str], None],
) -> None:
    """Two API processes, two sockets of one user: each gets the delivery once."""
    alice = mail_user()
    auth = {"Authorization": f"Bearer {alice.token}"}

    async def scenario() -> None:
        async with (
            connect(_ws(idle_api), additional_headers=auth) as one,
            connect(_ws(idle_api), additional_headers=auth) as two,
        ):
            await _watching(idle_api, alice.token, "idle")
            await asyncio.to_thread(deliver, alice.email, "twice?")
            for socket in (one, two):
                assert (await _next(socket))["type"] == "mail.new_message"
                assert (await _next(socket))["type"] == "mail.folder_update"
                await _silent(socket, 1.0)

    asyncio.run(scenario())


def _close_code(base: str, **kwargs: Any) -> tuple[int, str]:
    async def scenario() -> tuple[int, str]:
        async with connect(_ws(base), **kwargs) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 10)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason

    return asyncio.run(scenario())


def test_refused_tokens(
    mail_api: str, mail_settings: Settings, api: Api, mail_user: Callable[..., MailUser]
) -> None:
    alice = mail_user()
    assert _close_code(mail_api) == (1008, "missing_credentials")
    bad = {"Authorization": "Bearer not-a-token"}
    assert _close_code(mail_api, additional_headers=bad)[0] == 1008
    expired = jwt.encode(
        {
            "iss": jwt_tokens.ISSUER,
            "sub": f"mailbox:{alice.id}",
            "mbx": alice.id,
            "tid": alice.tenant_id,
            "email": alice.email,
            "typ": jwt_tokens.MAILBOX_TYPE,
            "ver": "0" * 16,
            "iat": int((datetime.now(UTC) - timedelta(hours=2)).timestamp()),
            "exp": int((datetime.now(UTC) - timedelta(hours=1)).timestamp()),
        },
        mail_settings.effective_secret(),
        algorithm=jwt_tokens.ALGORITHM,
    )
    code, reason = _close_code(mail_api, additional_headers={"Authorization": f"Bearer {expired}"})
    assert (code, reason) == (1008, "token_expired")
    # A tenant admin's token is not a mailbox user's.
    admin = api.tenant_admin(alice.tenant_id)
    admin_auth = {"Authorization": admin.headers["Authorization"]}
    assert _close_code(mail_api, additional_headers=admin_auth) == (1008, "not_a_mailbox_token")


def test_browser_subprotocol(mail_api: str, mail_user: Callable[..., MailUser]) -> None:
    """Browsers offer the token as a subprotocol; the answer never echoes it."""
    alice = mail_user()

    async def scenario() -> None:
        offered = ["mailplane.events", f"bearer.{alice.token}"]
        async with connect(_ws(mail_api), subprotocols=offered) as socket:  # type: ignore[arg-type]
            assert socket.subprotocol == "mailplane.events"
            await _watching(mail_api, alice.token, "push")

    asyncio.run(scenario())


def test_push_endpoint_refuses_strangers(mail_api: str, mail_user: Callable[..., MailUser]) -> None:
    alice = mail_user()
    body = f"user={alice.email}&folder=INBOX&uid=9&from=x%40y&subject=fake&unseen=1&exists=1"
    for headers in (
        {},
        {"Authorization": "Bearer guess"},
        {"Authorization": f"Bearer {alice.token}"},
    ):
        answer = httpx.post(
            mail_api + PUSH_PATH,
            content=body,
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_client"


def test_operator_status(mail_api: str, api: Api, mail_user: Callable[..., MailUser]) -> None:
    alice = mail_user()

    async def scenario() -> None:
        auth = {"Authorization": f"Bearer {alice.token}"}
        async with connect(_ws(mail_api), additional_headers=auth):
            await _watching(mail_api, alice.token, "push")
            async with httpx.AsyncClient(base_url=mail_api) as http:
                answer = await http.get("/api/v1/mail/events/status", headers=api.headers)
                assert answer.status_code == 200
                status = answer.json()
                assert status["source"] == "push"
                assert status["sockets"] >= 1
                refused = await http.get("/api/v1/mail/events/status", headers=auth)
                assert refused.status_code in (401, 403)

    asyncio.run(scenario())


def test_suspension_closes_the_socket(
    mail_settings: Settings, database: Database, api: Api, mail_user: Callable[..., MailUser]
) -> None:
    """An open socket re-checks its mailbox (here every second): suspended, it closes."""
    alice = mail_user()
    quick = mail_settings.model_copy(update={"webmail_events_recheck_seconds": 1.0})
    auth = {"Authorization": f"Bearer {alice.token}"}
    with (
        TestClient(create_app(quick, database)) as client,
        client.websocket_connect(EVENTS, headers=auth) as socket,
    ):
        api.ok("POST", f"/api/v1/mail/accounts/{alice.id}/suspend")
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert (closed.value.code, closed.value.reason) == (1008, "account_disabled")


def test_suspension_closes_a_socket_of_the_real_server(
    poll_api: str, api: Api, mail_user: Callable[..., MailUser]
) -> None:
    alice = mail_user()

    async def scenario() -> None:
        auth = {"Authorization": f"Bearer {alice.token}"}
        async with connect(_ws(poll_api), additional_headers=auth) as socket:
            await _watching(poll_api, alice.token, "poll")
            await asyncio.to_thread(api.ok, "POST", f"/api/v1/mail/accounts/{alice.id}/suspend")
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 10)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "account_disabled")

    asyncio.run(scenario())
