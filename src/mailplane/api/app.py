"""The application factory: settings and database in, a FastAPI app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request

from mailplane import __version__
from mailplane.aliases.endpoints import router as aliases_router
from mailplane.api import errors
from mailplane.api.admission import Admission
from mailplane.api.body_limit import BodyLimit
from mailplane.audit.endpoints import router as audit_router
from mailplane.auth.endpoints import router as auth_router
from mailplane.circuit_breaker.endpoints import router as sending_state_router
from mailplane.clientconfig.endpoints import router as clientconfig_router
from mailplane.complaints.endpoints import router as complaints_router
from mailplane.config import Settings, get_settings
from mailplane.contacts.endpoints import router as contacts_router
from mailplane.db import Database
from mailplane.delivery.queue_endpoints import router as queue_router
from mailplane.dkim.endpoints import router as dkim_router
from mailplane.domains.endpoints import router as domains_router
from mailplane.domains.verification.endpoints import router as verification_router
from mailplane.live_events.endpoints import router as live_events_router
from mailplane.live_events.hub import EventHub
from mailplane.live_events.watchers import watcher_factory
from mailplane.mailboxes.deleted_endpoints import router as deleted_mailboxes_router
from mailplane.mailboxes.endpoints import router as mailboxes_router
from mailplane.outbound_routes.endpoints import router as outbound_routes_router
from mailplane.sending.cors import SendCors
from mailplane.sending.endpoints import router as sending_router
from mailplane.sending.key_endpoints import router as api_keys_router
from mailplane.sending.message_endpoints import router as messages_router
from mailplane.signatures.endpoints import router as signatures_router
from mailplane.statistics.deliverability_endpoints import router as deliverability_router
from mailplane.statistics.endpoints import router as statistics_router
from mailplane.suppressions.endpoints import router as suppressions_router
from mailplane.tenants.endpoints import router as tenants_router
from mailplane.throttling.endpoints import router as throttles_router
from mailplane.unsubscribe.endpoints import router as unsubscribe_router
from mailplane.webhooks.endpoints import router as webhooks_router
from mailplane.webmail.folder_endpoints import router as webmail_folders_router
from mailplane.webmail.list_endpoints import router as webmail_lists_router
from mailplane.webmail.message_endpoints import router as webmail_messages_router
from mailplane.webmail.pool import ImapPool
from mailplane.webmail.send_endpoints import router as webmail_send_router

# The largest legitimate body (an alias with 100 destinations) is about 32 KiB; anything far
# bigger is refused with 413 before it is read into memory.
MAX_BODY_BYTES = 1024 * 1024
# The one-click POST's body is "List-Unsubscribe=One-Click" (RFC 8058), or empty.
UNSUBSCRIBE_BODY_BYTES = 1024
# Worker threads beyond the admitted requests: sync dependencies of unadmitted paths.
HEADROOM_THREADS = 8

DESCRIPTION = """
mailplane's HTTP API. Platform operators authenticate with an `x-service-token` header;
tenant admins log in at `/api/v1/auth/login` and send `Authorization: Bearer <token>`.
Errors always answer `{"error": "<code>", "detail": "<message>"}`.
"""


def send_body_limits(settings: Settings) -> dict[str, int]:
    """A message may carry send_max_message_mb of attachments, a third larger in base64;
    a batch carries up to four such messages' worth (its items are usually small)."""
    message = settings.send_max_message_mb * 1024 * 1024 * 4 // 3 + MAX_BODY_BYTES
    webmail = settings.message_size_limit_mb * 1024 * 1024 * 4 // 3 + MAX_BODY_BYTES
    return {
        "/api/v1/send": message,
        "/api/send/external": MAX_BODY_BYTES * 11,
        "/api/v1/send/batch": 4 * message,
        "/api/v1/suppressions/import": MAX_BODY_BYTES * 8,
        # Webmail: attachments in base64 up to the mail server's message size limit.
        "/api/v1/mail/webmail/send": webmail,
        "/api/v1/mail/webmail/drafts": webmail,
    }


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.check_production()
    owns_database = database is None
    db = database or Database(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Every admitted request must find a worker thread (admission.py explains why).
        threads = anyio.to_thread.current_default_thread_limiter()
        admitted = settings.api_max_concurrent_reads + settings.api_max_concurrent_writes
        threads.total_tokens = max(threads.total_tokens, admitted + HEADROOM_THREADS)
        yield
        await hub.close()
        await app.state.imap_pool.close()
        if owns_database:
            db.dispose()

    app = FastAPI(
        title="mailplane",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    # The body limit wraps admission, so that a write's body is counted while admission
    # reads it ahead.
    app.add_middleware(Admission, settings=settings)
    app.add_middleware(
        BodyLimit,
        max_body_size=MAX_BODY_BYTES,
        per_path=send_body_limits(settings),
        per_prefix={"/unsubscribe/": UNSUBSCRIBE_BODY_BYTES},
    )
    # Outermost: the CORS headers are on every answer of the send paths, 413 and 429 too.
    app.add_middleware(SendCors, database=db)
    app.state.settings = settings
    app.state.database = db
    app.state.token_touches = {}  # deps._first_touch: service token id -> monotonic time
    app.state.imap_pool = pool = ImapPool(settings, db)
    hub = EventHub(settings, db, watchers=None)
    hub.watchers = watcher_factory(settings, db, pool, hub.wake)
    app.state.live_events = hub
    errors.install(app)
    for router in (
        auth_router,
        tenants_router,
        domains_router,
        verification_router,
        dkim_router,
        mailboxes_router,
        deleted_mailboxes_router,
        aliases_router,
        audit_router,
        clientconfig_router,
        api_keys_router,
        sending_router,
        messages_router,
        queue_router,
        webhooks_router,
        outbound_routes_router,
        suppressions_router,
        throttles_router,
        unsubscribe_router,
        statistics_router,
        deliverability_router,
        sending_state_router,
        complaints_router,
        signatures_router,
        contacts_router,
        webmail_send_router,
        webmail_folders_router,
        webmail_messages_router,  # before the list: /messages/{folder:path} matches these too
        live_events_router,
        # Last: its /messages/{folder:path} would also match the paths of single messages.
        webmail_lists_router,
    ):
        app.include_router(router)

    # /healthz has a thread and a connection of its own: it answers while every admitted
    # request is busy, and a flood of health checks queues only behind itself.
    health_thread = anyio.CapacityLimiter(1)

    @app.get("/healthz", tags=["health"])
    async def health(request: Request) -> dict[str, Any]:
        """Liveness and database reachability."""
        database: Database = request.app.state.database
        await anyio.to_thread.run_sync(database.ping, limiter=health_thread)
        return {"status": "ok", "version": __version__}

    return app
