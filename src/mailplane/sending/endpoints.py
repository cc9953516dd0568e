"""The send endpoints: /api/send/external (seed 000), /api/v1/send and /api/v1/send/batch.

Authenticated by an API key, not by the admin credentials: the key is read inside the
handler (after the body validated), so that a malformed body is always a 4xx about the
body. The handler checks and composes first, then commits in one short transaction, and
answers only after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from mailplane.api.deps import get_clock, get_database, get_settings
from mailplane.api.responses import ERRORS
from mailplane.errors import Forbidden, InvalidInput, MailplaneError, Unauthenticated
from mailplane.names import reject_control_characters, to_a_label
from mailplane.sending import idempotency, service
from mailplane.sending.accept import prepare
from mailplane.sending.key_auth import SendKey, authenticate, key_from_headers
from mailplane.sending.queue import NewMessage, Queued
from mailplane.sending.schemas import (
    BatchAccepted,
    BatchItem,
    BatchItemError,
    BatchRequest,
    ExternalSendAccepted,
    ExternalSendRequest,
    RecipientOut,
    SendAccepted,
    SendRequest,
)

router = APIRouter(tags=["sending"], responses=ERRORS)

KeyHeader = Annotated[
    str | None,
    Header(description="mpk_...: the API key (or send it as Authorization: Bearer mpk_...)."),
]
IdempotencyHeader = Annotated[
    str | None,
    Header(description="Same key and body within 24 h: the first answer again, no resend."),
]


def _key(request: Request, authorization: str | None, x_api_key: str | None) -> SendKey:
    key = key_from_headers(authorization, x_api_key)
    if key is None:
        raise Unauthenticated(
            "send the API key as 'Authorization: Bearer mpk_...' or 'X-Api-Key: mpk_...'",
            code="missing_api_key",
        )
    now = get_clock(request)()
    return authenticate(get_database(request), key, request.headers.get("origin"), now)


def _idempotency(header: str | None, path: str, body: Any) -> service.IdempotencyKey | None:
    if header is None:
        return None
    key = idempotency.check_key(header)
    return service.IdempotencyKey(key, idempotency.request_hash(path, body))


def _accepted(message: NewMessage, queued: Queued) -> SendAccepted:
    return SendAccepted(
        id=queued.message_id,
        message_id=message.message_id_header,
        recipients=[
            RecipientOut(
                email=email, id=i, status="suppressed" if i in queued.suppressed else "queued"
            )
            for email, i in queued.deliveries
        ],
    )


def _queue(
    request: Request,
    key: SendKey,
    messages: list[NewMessage],
    answer: Callable[[list[Queued]], tuple[int, dict[str, Any]]],
    now: datetime,
    replay_key: service.IdempotencyKey | None,
) -> JSONResponse:
    """Commit (idempotency, rate limits, the queue) and answer only after the commit."""
    committed = service.commit(
        get_database(request),
        get_settings(request),
        key,
        messages,
        answer,
        now=now,
        idempotency_key=replay_key,
    )
    return JSONResponse(
        committed.body, status_code=committed.status_code, headers=committed.headers()
    )


@router.post("/api/v1/send", response_model=SendAccepted, status_code=status.HTTP_202_ACCEPTED)
def send(
    request: Request,
    body: SendRequest,
    authorization: KeyHeader = None,
    x_api_key: KeyHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """Queue one message; 202 once it is stored with one delivery per recipient."""
    key = _key(request, authorization, x_api_key)
    settings = get_settings(request)
    now = get_clock(request)()
    replay_key = _idempotency(
        idempotency_key, "/api/v1/send", body.model_dump(mode="json", by_alias=True)
    )
    message = prepare(key, body, settings, now)

    def answer(queued: list[Queued]) -> tuple[int, dict[str, Any]]:
        return 202, _accepted(message, queued[0]).model_dump(mode="json")

    return _queue(request, key, [message], answer, now, replay_key)


@router.post("/api/v1/send/batch", response_model=BatchAccepted, status_code=status.HTTP_200_OK)
def send_batch(
    request: Request,
    body: BatchRequest,
    authorization: KeyHeader = None,
    x_api_key: KeyHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """Up to send_max_batch messages: each is checked on its own and gets its own result
    (202 with ids, or an error); the valid ones are queued together in one transaction."""
    key = _key(request, authorization, x_api_key)
    settings = get_settings(request)
    if len(body.messages) > settings.send_max_batch:
        raise InvalidInput(
            f"at most {settings.send_max_batch} messages per batch", code="batch_too_large"
        )
    now = get_clock(request)()
    replay_key = _idempotency(idempotency_key, "/api/v1/send/batch", body.model_dump(mode="json"))
    prepared: list[tuple[int, NewMessage]] = []
    results: dict[int, BatchItem] = {}
    for index, item in enumerate(body.messages):
        try:
            prepared.append((index, prepare(key, SendRequest.model_validate(item), settings, now)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "body"
            results[index] = BatchItem(
                index=index,
                status=422,
                error=BatchItemError(error="invalid_request", detail=f"{where}: {first['msg']}"),
            )
        except MailplaneError as exc:
            results[index] = BatchItem(
                index=index,
                status=exc.status,
                error=BatchItemError(error=exc.code, detail=exc.detail),
            )

    def answer(queued: list[Queued]) -> tuple[int, dict[str, Any]]:
        for (index, message), one in zip(prepared, queued, strict=True):
            results[index] = BatchItem(index=index, status=202, result=_accepted(message, one))
        ordered = [results[i] for i in range(len(body.messages))]
        accepted = BatchAccepted(
            accepted=len(prepared), rejected=len(ordered) - len(prepared), results=ordered
        )
        return 200, accepted.model_dump(mode="json", exclude_none=True)

    return _queue(request, key, [m for _, m in prepared], answer, now, replay_key)


@router.post("/api/send/external", response_model=ExternalSendAccepted)
def send_external(
    request: Request,
    body: ExternalSendRequest,
    authorization: KeyHeader = None,
    x_api_key: KeyHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """The seed 000 request and answer, unchanged: a site built against it only adds its
    key header. The sender is the key's from_address (noreply@<domain> by default)."""
    key = _key(request, authorization, x_api_key)
    reject_control_characters(body.domain, "domain")
    if to_a_label(body.domain) != key.domain_name:
        raise Forbidden(f"this key sends for {key.domain_name} only", code="domain_mismatch")
    to = body.to if isinstance(body.to, list) else [a for a in body.to.split(",") if a.strip()]
    if not to:
        raise InvalidInput("name at least one recipient", code="no_recipients")
    send_request = SendRequest.model_validate(
        {
            "from": key.from_address,
            "to": to,
            "subject": body.subject,
            "html": body.html,
            "text": body.text,
            **({"reply_to": body.replyTo} if body.replyTo else {}),
        }
    )
    settings = get_settings(request)
    now = get_clock(request)()
    replay_key = _idempotency(idempotency_key, "/api/send/external", body.model_dump(mode="json"))
    message = prepare(key, send_request, settings, now)

    def answer(_queued: list[Queued]) -> tuple[int, dict[str, Any]]:
        return 200, ExternalSendAccepted(messageId=message.message_id_header).model_dump()

    return _queue(request, key, [message], answer, now, replay_key)
