"""The one place where errors become HTTP answers: ``{"error": code, "detail": message}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailplane.db.overload import overload_of
from mailplane.errors import MailplaneError, Overloaded, RateLimited, Throttled

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "detail": detail, **extra}


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


async def _mailplane_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MailplaneError)
    headers = {}
    if isinstance(exc, Throttled | Overloaded):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, RateLimited):
        headers.update(exc.headers)
    return JSONResponse(
        error_body(exc.code, exc.detail, **exc.extra), status_code=exc.status, headers=headers
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _location(e.get("loc", ())), "message": str(e.get("msg", "")), "type": e["type"]}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return JSONResponse(
            error_body("invalid_json", "the request body is not valid JSON", errors=errors),
            status_code=400,
        )
    if any(e["type"] == "extra_forbidden" for e in errors):
        unknown = ", ".join(e["field"] for e in errors if e["type"] == "extra_forbidden")
        return JSONResponse(
            error_body("unknown_field", f"unknown field(s): {unknown}", errors=errors),
            status_code=422,
        )
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return JSONResponse(
        error_body("invalid_request", summary or "the request is not valid", errors=errors),
        status_code=422,
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=exc.headers)


async def _data_error(_request: Request, exc: Exception) -> JSONResponse:
    # The last line of defence: a value the schemas let through but the database refuses
    # (out of range, NUL in text) is the client's input, so a 422, never a 500. Logged,
    # because it means a schema is missing a bound.
    log.warning("database refused a value: %s", exc)
    return JSONResponse(
        error_body("invalid_value", "a value is out of the range the database can store"),
        status_code=422,
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # The last line: a database too busy to answer in time (SQLite's lock past the busy
    # timeout, no free connection, PostgreSQL out of connections or a lost serialization
    # race) is "retry later", never a bare 500. Anything else still is a bug.
    overloaded = overload_of(exc)
    if overloaded is None:
        return await _unexpected(request, exc)
    log.warning("database overloaded: %s", exc)
    return await _mailplane_error(request, overloaded)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "an unexpected error happened; it has been logged"),
        status_code=500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(MailplaneError, _mailplane_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(Exception, _unexpected)
