"""Live mail events: the WebSocket, Dovecot's push reports, and the watchers' status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from email.utils import parseaddr
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect
from sqlalchemy import select

from mailplane.api.deps import MailboxUserDep, PrincipalDep, mailbox_user_from_token
from mailplane.auth import jwt_tokens
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.errors import InvalidInput, MailplaneError, Unauthenticated
from mailplane.live_events.hub import EventHub, Mailbox, TooManySockets
from mailplane.live_events.publishing import Counts, NewMessage, publish_changes
from mailplane.live_events.push_client import is_push_client
from mailplane.models import Mailbox as MailboxRow
from mailplane.models import utcnow

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/mail", tags=["webmail events"])

# Browsers cannot set headers on a WebSocket: they offer the token as a subprotocol,
# ``new WebSocket(url, ["mailplane.events", "bearer." + token])``; the answer names only
# "mailplane.events", never the token. A query-string token is refused: it lands in logs.
SUBPROTOCOL = "mailplane.events"
BEARER_PREFIX = "bearer."
POLICY_VIOLATION = 1008
CLOSE_WAIT_SECONDS = 5.0  # for the client's answer to our close frame


def _hub(app_state: Any) -> EventHub:
    hub: EventHub = app_state.live_events
    return hub


def _offered_token(websocket: WebSocket) -> str | None:
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith(BEARER_PREFIX) and len(offered) > len(BEARER_PREFIX):
            return str(offered[len(BEARER_PREFIX) :])
    return None


def _authenticate(database: Database, settings: Settings, token: str) -> tuple[Mailbox, datetime]:
    user = mailbox_user_from_token(database, settings, token)
    expires = jwt_tokens.decode_mailbox_token(settings, token).expires_at
    return Mailbox(user.mailbox_id, user.tenant_id, user.email), expires


@router.websocket("/events")
async def events(websocket: WebSocket) -> None:
    """Sends ``mail.new_message`` and ``mail.folder_update`` events of the caller's mailbox.
    Closes with 1008 for a missing, bad or expired token or a suspended mailbox, and with
    1013 when the server has no room for another socket."""
    settings: Settings = websocket.app.state.settings
    database: Database = websocket.app.state.database
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in websocket.scope.get("subprotocols", []) else None
    token = _offered_token(websocket)
    if token is None:
        await websocket.accept(subprotocol=subprotocol)
        await websocket.close(POLICY_VIOLATION, "missing_credentials")
        return
    try:
        mailbox, expires = await anyio.to_thread.run_sync(_authenticate, database, settings, token)
    except MailplaneError as exc:
        await websocket.accept(subprotocol=subprotocol)
        await websocket.close(POLICY_VIOLATION, exc.code)
        return
    hub = _hub(websocket.app.state)
    try:
        subscriber = hub.subscribe(mailbox)
    except TooManySockets as exc:
        await websocket.accept(subprotocol=subprotocol)
        await websocket.close(exc.close_code, exc.code)
        return
    await websocket.accept(subprotocol=subprotocol)
    gone = asyncio.Event()
    receiver = asyncio.create_task(_drain(websocket, gone, subscriber.queue))
    try:
        reason = await _pump(websocket, subscriber.queue, gone, settings, database, token, expires)
        if reason is not None:
            # Closed first, so that the pending receive ends with the close handshake: a
            # receive cancelled mid-way can leave the server unable to close.
            await websocket.close(POLICY_VIOLATION, reason)
    except (WebSocketDisconnect, RuntimeError):  # the client went away mid-send
        pass
    finally:
        hub.unsubscribe(subscriber)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver, CLOSE_WAIT_SECONDS)


async def _drain(
    websocket: WebSocket, gone: asyncio.Event, queue: asyncio.Queue[dict[str, Any] | None]
) -> None:
    """Reads (and ignores) what the client sends, until it leaves."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
    gone.set()
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(None)


async def _pump(
    websocket: WebSocket,
    queue: asyncio.Queue[dict[str, Any] | None],
    gone: asyncio.Event,
    settings: Settings,
    database: Database,
    token: str,
    expires: datetime,
) -> str | None:
    """Hands events on until the client leaves (None) or its right to listen ends (the
    close reason)."""
    while not gone.is_set():
        recheck = settings.webmail_events_recheck_seconds
        until_expiry = (expires - utcnow()).total_seconds()
        try:
            item = await asyncio.wait_for(queue.get(), timeout=max(0.0, min(recheck, until_expiry)))
        except TimeoutError:
            if utcnow() >= expires:
                return "token_expired"
            try:
                await anyio.to_thread.run_sync(_authenticate, database, settings, token)
            except MailplaneError as exc:
                return exc.code
            continue
        if item is None:
            return None if gone.is_set() else "closed"
        await websocket.send_json(item)
    return None


@router.get("/webmail/watchers")
async def my_watcher(user: MailboxUserDep, request: Request) -> dict[str, Any]:
    """How this API process watches the caller's mailbox: its source (idle, push, poll),
    whether the watcher is connected, the time of the last event."""
    return {"email": user.email, **_hub(request.app.state).status_of(user.mailbox_id)}


@router.get("/events/status")
async def events_status(principal: PrincipalDep, request: Request) -> dict[str, Any]:
    """Operators: this process's sockets and watchers, counted by source."""
    principal.require_platform()
    return _hub(request.app.state).overview()


@router.post("/events/push", status_code=204, include_in_schema=False)
async def push(request: Request) -> Response:
    """Dovecot's push_notification Lua driver reports one new message (form-encoded)."""
    settings: Settings = request.app.state.settings
    if not is_push_client(settings, request.headers.get("authorization")):
        raise Unauthenticated("unknown push client", code="invalid_client")
    body = await request.body()
    if len(body) > 64 * 1024:
        raise InvalidInput("the report is too large", code="report_too_large")
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    report = _report(fields)
    await anyio.to_thread.run_sync(_publish_push, request.app.state.database, report)
    hub = _hub(request.app.state)
    hub.wake()
    if hub.prune_due():  # rows pile up here even when no process listens
        await anyio.to_thread.run_sync(hub.prune)
    return Response(status_code=204)


def _report(fields: dict[str, str]) -> dict[str, Any]:
    try:
        return {
            "user": fields["user"].strip().lower(),
            "folder": fields["folder"],
            "uid": int(fields["uid"]),
            "from": fields.get("from", ""),
            "subject": fields.get("subject", ""),
            "unseen": int(fields["unseen"]),
            "exists": int(fields["exists"]),
        }
    except (KeyError, ValueError) as exc:
        raise InvalidInput(f"a push report needs {exc}", code="invalid_report") from None


def _publish_push(database: Database, report: dict[str, Any]) -> None:
    with database.session(write=False) as session:
        row = session.scalar(select(MailboxRow).where(MailboxRow.email == report["user"]))
        if row is None:
            return  # deleted since the delivery: nobody to tell
        mailbox_id, tenant_id = row.id, row.tenant_id
    name, address = parseaddr(report["from"])
    message = NewMessage(
        report["folder"], report["uid"], name, address or report["from"], report["subject"]
    )
    counts = Counts(report["folder"], report["unseen"], report["exists"])
    publish_changes(database, mailbox_id, tenant_id, "push", [message], counts)
