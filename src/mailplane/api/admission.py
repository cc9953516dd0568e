"""Admission: how many requests may be inside the application at once, per process.

Why (issue 7, measured): a sync endpoint runs in a worker thread (Starlette's pool of 40)
and its request keeps its session, hence a pooled connection and on SQLite the write lock,
until the response has been serialised, which FastAPI does in a worker thread again before
the session commits. With 60 or more concurrent writes every worker thread was taken by
requests waiting for the write lock or for a connection, so the one holding the lock could
not get a thread to finish: nothing moved until the 30 s timeouts fired, then 500s.

Here requests wait *before* they take a thread, in two queues: writes (any method but
GET/HEAD/OPTIONS) and reads, each with its own limit. Together the limits stay below the
thread pool and the connection pool (db.pool_capacity), so an admitted request always
finds a thread and a connection, and reads never queue behind writes. A request that
waits longer than ``api_queue_seconds`` gets ``Retry-After`` and 429 ``too_many_requests``
when it waited behind its own client's requests (the limit it tripped), else 503
``overloaded`` (the platform is busy for everyone).

Each queue serves clients in turn (fair_slots.py): a tenant (by its verified access
token), or else a client address. One tenant's burst then delays that
tenant, not the others.

A write's body is read before it queues for a slot: a client that sends its body slowly
must not hold one of the few write slots while it dawdles. /healthz is not admitted here;
it has its own thread and connection (app.py).
"""

from __future__ import annotations

import logging
import math

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailplane.api.fair_slots import FairSlots
from mailplane.auth import jwt_tokens
from mailplane.config import Settings
from mailplane.errors import Unauthenticated

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Health, and the token introspection that Dovecot calls while a webmail request (already
# admitted) waits for its IMAP login: it has its own threads (auth/endpoints.py).
UNADMITTED_PATHS = frozenset({"/healthz", "/api/v1/auth/token/introspect"})


class Admission:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.queue_seconds = settings.api_queue_seconds
        self.retry_after = max(1, math.ceil(settings.api_queue_seconds / 4))
        self.slots = {
            "write": FairSlots(settings.api_max_concurrent_writes),
            "read": FairSlots(settings.api_max_concurrent_reads),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNADMITTED_PATHS:
            await self.app(scope, receive, send)
            return
        kind = "read" if scope["method"] in SAFE_METHODS else "write"
        if kind == "write":
            try:
                receive = await _buffered(receive)
            except HTTPException as exc:  # the body limit (body_limit.py) refused it
                body = {"error": "payload_too_large", "detail": str(exc.detail)}
                await JSONResponse(body, status_code=exc.status_code)(scope, receive, send)
                return
        slots = self.slots[kind]
        client = self._client(scope)
        if not await slots.acquire(client, self.queue_seconds):
            own = slots.backlog(client)
            log.warning(
                "overloaded: a %s of %s waited %.0f s behind %d of its own; answered %d",
                kind,
                client[:24],
                self.queue_seconds,
                own,
                429 if own else 503,
            )
            await self._refusal(kind, own)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release(client)

    def _client(self, scope: Scope) -> str:
        """Whose turn this request waits for. Only a verified token names a tenant; the
        endpoint checks the credential fully (revocation, suspension) as before."""
        headers = Headers(scope=scope)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            token = token.strip()
            try:
                if jwt_tokens.token_type(token) == jwt_tokens.MAILBOX_TYPE:
                    # A mailbox user's webmail requests take their tenant's turns.
                    return (
                        f"tenant:{jwt_tokens.decode_mailbox_token(self.settings, token).tenant_id}"
                    )
                return f"tenant:{jwt_tokens.decode_access_token(self.settings, token).tenant_id}"
            except Unauthenticated:
                pass
        # Anything else (a service token included: its validity is not known here, and a
        # made-up token per request must not buy a turn per request) waits as its address.
        client = scope.get("client")
        return f"address:{client[0] if client else ''}"

    def _refusal(self, kind: str, own: int) -> JSONResponse:
        """429 when the client waited behind its own requests (its burst is what it hit:
        a limit it tripped, SECURITY.md 5), else 503 (the platform is busy for everyone)."""
        retry = f"nothing was changed, retry in {self.retry_after} s"
        if own:
            error, status = "too_many_requests", 429
            detail = f"{own} of your {kind}s are in progress or waiting; {retry}"
        else:
            error, status = "overloaded", 503
            detail = f"too many {kind}s in progress; {retry}"
        return JSONResponse(
            {"error": error, "detail": detail, "retry_after": self.retry_after},
            status_code=status,
            headers={"Retry-After": str(self.retry_after)},
        )


async def _buffered(receive: Receive) -> Receive:
    """Read the whole body now; the app then gets it from memory."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay
