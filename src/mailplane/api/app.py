"""The application factory: settings and database in, a FastAPI app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import text

from mailplane import __version__
from mailplane.aliases.endpoints import router as aliases_router
from mailplane.api import errors
from mailplane.api.body_limit import BodyLimit
from mailplane.audit.endpoints import router as audit_router
from mailplane.auth.endpoints import router as auth_router
from mailplane.clientconfig.endpoints import router as clientconfig_router
from mailplane.config import Settings, get_settings
from mailplane.db import Database
from mailplane.dkim.endpoints import router as dkim_router
from mailplane.domains.endpoints import router as domains_router
from mailplane.domains.verification.endpoints import router as verification_router
from mailplane.mailboxes.deleted_endpoints import router as deleted_mailboxes_router
from mailplane.mailboxes.endpoints import router as mailboxes_router
from mailplane.tenants.endpoints import router as tenants_router

# The largest legitimate body (an alias with 100 destinations) is about 32 KiB; anything far
# bigger is refused with 413 before it is read into memory.
MAX_BODY_BYTES = 1024 * 1024

DESCRIPTION = """
mailplane's HTTP API. Platform operators authenticate with an `x-service-token` header;
tenant admins log in at `/api/v1/auth/login` and send `Authorization: Bearer <token>`.
Errors always answer `{"error": "<code>", "detail": "<message>"}`.
"""


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.check_production()
    owns_database = database is None
    db = database or Database(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_database:
            db.dispose()

    app = FastAPI(
        title="mailplane",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_body_size=MAX_BODY_BYTES)
    app.state.settings = settings
    app.state.database = db
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
    ):
        app.include_router(router)

    @app.get("/healthz", tags=["health"])
    def health(request: Request) -> dict[str, Any]:
        """Liveness and database reachability."""
        database: Database = request.app.state.database
        with database.session(write=False) as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    return app
