"""Refuse oversized request bodies with the API's JSON error body (413).

A declared Content-Length past the limit is answered before the body is read. A chunked
body is counted while the endpoint reads it; passing the limit raises an HTTPException
from ``receive``, which the app's error handlers turn into the same JSON answer.
(FastAPI's own ``max_body_size`` answers a declared length in plain text, outside the
app's error handlers, so it is not used.)
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_body_size: int,
        per_path: dict[str, int] | None = None,
        per_prefix: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.default_size = max_body_size
        # Paths whose bodies are larger by nature (the send API carries attachments).
        self.per_path = per_path or {}
        # Path prefixes with their own (smaller) limit: the public unsubscribe pages.
        self.per_prefix = per_prefix or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = self.per_path.get(path.rstrip("/"), self.default_size)
        for prefix, size in self.per_prefix.items():
            if path.startswith(prefix):
                limit = size
        too_large = f"request bodies are limited to {limit} bytes"
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value.decode("latin-1").strip()
                if not declared.isdigit() or int(declared) > limit:
                    body = {"error": "payload_too_large", "detail": too_large}
                    await JSONResponse(body, status_code=413)(scope, receive, send)
                    return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(status_code=413, detail=too_large)
            return message

        await self.app(scope, counting_receive, send)
