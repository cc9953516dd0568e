"""CORS for the send endpoints: only the origins of active form keys get an answer.

Never ``*`` and never a blind echo of the request's Origin: the origin must be listed on
an active form key. CORS only tells the browser it may read the answer; the request is
still authenticated by its key, and a form key still checks the Origin itself
(key_auth.py). The set of origins is cached per process for a few seconds (preflights
come with every form submission); a key change in this process drops the cache at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import or_, select
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailplane.db import Database
from mailplane.models import ApiKey, utcnow

CORS_PATHS = frozenset({"/api/send/external", "/api/v1/send"})
CACHE_SECONDS = 5.0
ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = "content-type, x-api-key, authorization, idempotency-key"
EXPOSED_HEADERS = (
    "retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, idempotent-replayed"
)


@dataclass
class _Cache:
    generation: int = 0
    loaded_generation: int = -1
    loaded_at: float = 0.0
    origins: frozenset[str] = frozenset()


_cache = _Cache()
_lock = threading.Lock()


def forget() -> None:
    """A form key changed in this process: the next request reloads the origins."""
    with _lock:
        _cache.generation += 1


def form_key_origins(database: Database) -> frozenset[str]:
    with _lock:
        fresh = (
            _cache.loaded_generation == _cache.generation
            and time.monotonic() - _cache.loaded_at < CACHE_SECONDS
        )
        if fresh:
            return _cache.origins
        generation = _cache.generation
    now = utcnow()
    with database.session(write=False) as session:
        lists = session.scalars(
            select(ApiKey.allowed_origins).where(
                ApiKey.kind == "form",
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
            )
        )
        origins = frozenset(origin for listed in lists for origin in listed)
    with _lock:
        _cache.origins = origins
        _cache.loaded_at = time.monotonic()
        _cache.loaded_generation = generation
    return origins


class SendCors:
    def __init__(self, app: ASGIApp, database: Database) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") not in CORS_PATHS:
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")
        allowed = False
        if origin:
            origins = await anyio.to_thread.run_sync(form_key_origins, self.database)
            allowed = origin in origins
        if scope["method"] == "OPTIONS":
            await self._preflight(origin if allowed else None)(scope, receive, send)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Access-Control-Allow-Origin"] = str(origin)
                headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
                headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, with_cors)

    @staticmethod
    def _preflight(origin: str | None) -> Response:
        if origin is None:
            # No CORS headers: the browser refuses to send the real request.
            return Response(status_code=204, headers={"Vary": "Origin"})
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            },
        )
