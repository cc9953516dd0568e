"""The webhook dispatcher: a loop in every ``mailplane worker`` (so in ``mailplane up``).

1. Fan-out: unpublished events of the outbox (``models.Event``) become one webhook delivery
   per matching enabled endpoint of their tenant, and are marked published, in one
   transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: the write lock), so each
   event fans out once.
2. Sending: due webhook deliveries are claimed with a lease (like delivery/claims.py) and
   POSTed concurrently, signed per Standard Webhooks; each result is settled on its own by
   the dispatcher that still holds the claim. A delivery is due only when no earlier one of
   the same message (``ordering_key``) is still pending for the same endpoint, so the
   events of one message arrive in order.

2xx is delivered; anything else (another status, a timeout, a refused connection) is
retried with exponential backoff and jitter until ``webhook_max_age_seconds`` after the
event, then failed. An endpoint whose every attempt failed for
``webhook_disable_after_seconds`` is disabled, with an audit entry and a
``webhook.disabled`` event. Delivery is at least once: receivers deduplicate by
``webhook-id``.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Table, exists, insert, select, update
from sqlalchemy.orm import Session, aliased
from standardwebhooks import Webhook

from mailplane.audit.service import record
from mailplane.auth.principals import SYSTEM
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.jobs.runner import new_runner_id
from mailplane.models import Event, WebhookDelivery, WebhookEndpoint, utcnow
from mailplane.webhooks import secrets, urls

log = logging.getLogger(__name__)

DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[assignment]
ERROR_LIMIT = 1000
USER_AGENT = "mailplane-webhooks/1"


def _ordering_key(event: Event, message_id: object) -> str | None:
    """Events that must arrive in order share a key: a message's, and a tenant's sending
    pauses (a subscriber must never see ``sending.resumed`` before its ``sending.paused``)."""
    if event.object_type == "message" and isinstance(message_id, str):
        return message_id
    if event.object_type == "sending_pause":
        return f"sending:{event.tenant_id}"
    return None


def new_event_id() -> str:
    return "msg_" + uuid.uuid4().hex


def body_of(event: Event) -> dict[str, Any]:
    data = dict(event.payload or {})
    if event.object_type != "message":
        data = {"object_type": event.object_type, "object_id": event.object_id, **data}
    return {"type": event.type, "timestamp": event.at.isoformat(), "data": data}


def fan_out(settings: Settings, database: Database, now: datetime | None = None) -> int:
    """Turn up to ``webhook_batch_size`` unpublished events into webhook deliveries."""
    now = now or utcnow()
    with database.session(write=False) as session:
        if session.scalar(select(Event.id).where(Event.published_at.is_(None)).limit(1)) is None:
            return 0
    with database.transaction() as session:
        query = (
            select(Event)
            .where(Event.published_at.is_(None))
            .order_by(Event.id)
            .limit(settings.webhook_batch_size)
        )
        if not settings.is_sqlite:
            # Not SKIP LOCKED: a second dispatcher waits for the first one's commit, so
            # webhook deliveries are created in event order (per-message order relies on
            # it); it then skips the events the first one published.
            query = query.with_for_update()
        events = list(session.scalars(query))
        tenants = {e.tenant_id for e in events if e.tenant_id is not None}
        endpoints: dict[int, list[WebhookEndpoint]] = defaultdict(list)
        if tenants:
            for endpoint in session.scalars(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.tenant_id.in_(tenants), WebhookEndpoint.enabled.is_(True)
                )
            ):
                endpoints[endpoint.tenant_id].append(endpoint)
        rows = []
        for event in events:
            event.published_at = now
            if event.tenant_id is None:
                continue
            for endpoint in endpoints[event.tenant_id]:
                if endpoint.event_types and event.type not in endpoint.event_types:
                    continue
                message_id = (event.payload or {}).get("message_id")
                rows.append(
                    {
                        "endpoint_id": endpoint.id,
                        "tenant_id": event.tenant_id,
                        "event_id": new_event_id(),
                        "event_type": event.type,
                        "ordering_key": _ordering_key(event, message_id),
                        "payload": body_of(event),
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
        if rows:
            session.execute(insert(DELIVERIES), rows)
        return len(events)


@dataclass(frozen=True)
class Claimed:
    id: int
    endpoint_id: int
    url: str
    secret: str
    event_id: str
    payload: dict[str, Any]
    created_at: datetime


def claim_due(
    settings: Settings, database: Database, runner: str, limit: int, now: datetime | None = None
) -> list[Claimed]:
    now = now or utcnow()
    earlier = aliased(WebhookDelivery)
    due = (WebhookDelivery.next_attempt_at.is_not(None), WebhookDelivery.next_attempt_at <= now)
    blocked = exists().where(
        earlier.endpoint_id == WebhookDelivery.endpoint_id,
        earlier.ordering_key == WebhookDelivery.ordering_key,
        earlier.id < WebhookDelivery.id,
        earlier.status == "pending",
    )
    sendable = (
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(*due, WebhookEndpoint.enabled.is_(True), ~blocked)
    )
    # A read first, so that an idle dispatcher never takes SQLite's write lock (rows of a
    # disabled endpoint, or waiting for an earlier event, are due but not sendable).
    with database.session(write=False) as session:
        if session.execute(sendable.limit(1)).first() is None:
            return []
    with database.transaction() as session:
        query = sendable.order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)
        if not settings.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
        lease_end = now + timedelta(seconds=settings.webhook_lease_seconds)
        claimed = []
        for row, endpoint in session.execute(query):
            row.claimed_by, row.next_attempt_at = runner, lease_end
            row.attempts += 1
            claimed.append(
                Claimed(
                    row.id,
                    endpoint.id,
                    endpoint.url,
                    endpoint.secret_encrypted,
                    row.event_id,
                    dict(row.payload),
                    row.created_at,
                )
            )
        return claimed


def signed_request(
    settings: Settings, item: Claimed, now: datetime
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(item.payload, separators=(",", ":"), ensure_ascii=False)
    secret = secrets.decrypt(settings, item.secret)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": item.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(item.event_id, now, body),
    }
    return body.encode(), headers


def send(settings: Settings, client: httpx.Client, item: Claimed) -> tuple[int | None, str | None]:
    """(status code, error): error None means delivered."""
    refused = urls.check_target(settings, item.url)
    if refused is not None:
        return None, refused
    body, headers = signed_request(settings, item, utcnow())
    try:
        response = client.post(item.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"


def backoff_seconds(settings: Settings, attempts: int) -> float:
    delay = settings.webhook_retry_base_seconds * 2 ** min(attempts - 1, 30)
    capped = min(delay, settings.webhook_retry_max_seconds)
    return float(capped * random.uniform(0.8, 1.2))  # noqa: S311


@dataclass(frozen=True)
class Result:
    item: Claimed
    code: int | None
    error: str | None  # None: delivered
    at: datetime


def settle(settings: Settings, database: Database, results: list[Result], runner: str) -> None:
    """Record a round's results in one transaction, each only if this dispatcher still
    holds its claim (one that outlived its lease cannot undo the next one's work)."""
    if not results:
        return
    with database.transaction() as session:
        attempts = dict(
            session.execute(
                select(WebhookDelivery.id, WebhookDelivery.attempts).where(
                    WebhookDelivery.id.in_([r.item.id for r in results])
                )
            ).all()
        )
        for result in results:
            _settle_one(settings, session, result, runner, attempts.get(result.item.id, 1))


def _settle_one(
    settings: Settings, session: Session, result: Result, runner: str, attempts: int
) -> None:
    item, now = result.item, result.at
    values: dict[str, Any] = {
        "claimed_by": None,
        "last_status_code": result.code,
        "last_error": result.error,
    }
    if result.error is None:
        values.update(status="delivered", next_attempt_at=None, delivered_at=now)
    elif (now - item.created_at).total_seconds() >= settings.webhook_max_age_seconds:
        values.update(status="failed", next_attempt_at=None)
    else:
        retry = backoff_seconds(settings, attempts)
        values.update(next_attempt_at=now + timedelta(seconds=retry))
    updated = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == item.id, WebhookDelivery.claimed_by == runner)
        .values(**values)
    )
    if not updated.rowcount:  # type: ignore[attr-defined]
        return  # another dispatcher took it over
    endpoint = session.get(WebhookEndpoint, item.endpoint_id)
    if endpoint is not None:
        _endpoint_result(settings, session, endpoint, result.error, now)


def _endpoint_result(
    settings: Settings,
    session: Session,
    endpoint: WebhookEndpoint,
    error: str | None,
    now: datetime,
) -> None:
    if error is None:
        endpoint.failing_since = None
        return
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        return
    failing = (now - endpoint.failing_since).total_seconds()
    if endpoint.enabled and failing >= settings.webhook_disable_after_seconds:
        endpoint.enabled = False
        endpoint.disabled_at = endpoint.updated_at = now
        endpoint.disabled_reason = f"every attempt failed for {int(failing)} s; last: {error}"[:300]
        log.warning("webhooks: endpoint %d disabled: %s", endpoint.id, endpoint.disabled_reason)
        record(
            session,
            SYSTEM,
            "webhook.disable",
            object_type="webhook",
            object_id=endpoint.id,
            tenant_id=endpoint.tenant_id,
            details={"reason": endpoint.disabled_reason},
            event="webhook.disabled",
        )


class Dispatcher:
    """Requests run on a thread pool; their results are settled together at the start of
    the next round (one write transaction, not one per request). It claims only as many
    as it has room for, so a slow receiver never holds the rest."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.runner = new_runner_id()
        self.client = httpx.Client(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.webhook_concurrency),
        )
        self.pool = ThreadPoolExecutor(settings.webhook_concurrency, thread_name_prefix="webhook")
        self.in_flight = 0
        self.done: list[Result] = []
        self.lock = threading.Lock()
        self.finished = threading.Event()

    def _run(self, item: Claimed) -> None:
        try:
            code, error = send(self.settings, self.client, item)
        except Exception as exc:  # a bug or an unreadable secret: retried like a failure
            log.exception("webhooks: delivery %d failed unexpectedly", item.id)
            code, error = None, f"internal error: {type(exc).__name__}"
        with self.lock:
            self.done.append(Result(item, code, error, utcnow()))
            self.in_flight -= 1
        self.finished.set()

    def step(self) -> int:
        """One round: settle finished requests, fan out, then claim and start what is due;
        how much work it found."""
        found = self.settle_finished()
        found += fan_out(self.settings, self.database)
        with self.lock:
            room = self.settings.webhook_concurrency - self.in_flight
        if room <= 0:
            return found + 1
        claimed = claim_due(self.settings, self.database, self.runner, room)
        with self.lock:
            self.in_flight += len(claimed)
        for item in claimed:
            self.pool.submit(self._run, item)
        return found + len(claimed)

    def settle_finished(self) -> int:
        """Record the finished requests' results; how many there were."""
        with self.lock:
            done, self.done = self.done, []
        try:
            settle(self.settings, self.database, done, self.runner)
        except Exception:
            with self.lock:
                self.done = done + self.done  # kept for the next round
            raise
        return len(done)

    def close(self) -> None:
        """Waits for the requests in flight and records them."""
        self.pool.shutdown(wait=True)
        try:
            self.settle_finished()
        finally:
            self.client.close()


def run_forever(settings: Settings, database: Database, stop: threading.Event) -> None:
    dispatcher = Dispatcher(settings, database)
    try:
        while not stop.is_set():
            try:
                busy = dispatcher.step()
            except Exception:
                log.exception("webhooks: dispatcher round failed")
                busy = 0
            if not busy:
                # Idle: look again after the poll interval, or as soon as a request ends.
                dispatcher.finished.wait(settings.webhook_poll_seconds)
                dispatcher.finished.clear()
            elif dispatcher.in_flight >= settings.webhook_concurrency:
                dispatcher.finished.wait(0.05)
                dispatcher.finished.clear()
    finally:
        dispatcher.close()
