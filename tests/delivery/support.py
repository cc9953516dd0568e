"""Helpers for the delivery tests: zones with MX records, queued messages, a worker run
in a thread until the deliveries are final."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from email.utils import format_datetime
from typing import Any

import dns.message
import dns.query
from sqlalchemy import select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.delivery.worker import run_worker
from mailplane.models import Delivery, DeliveryAttempt, utcnow
from mailplane.models.statuses import DeliveryStatus, MessageSource, MessageType
from mailplane.sending.queue import NewMessage, enqueue
from tests.support.knot import Knot


def mx_zone(knot: Knot, zone: str, mx: list[tuple[int, str]], hosts: dict[str, str]) -> None:
    """Publish ``zone`` with MX records (preference, host label) and A records."""
    records: list[dict[str, Any]] = [
        {"type": "MX", "name": zone, "value": f"{label}.{zone}" if label else "", "priority": p}
        for p, label in mx
    ]
    records += [
        {"type": "A", "name": f"{label}.{zone}", "value": ip} for label, ip in hosts.items()
    ]
    knot.add_zone(zone, records)


def raw_message(sender: str, recipient: str, subject: str = "", body: str = "") -> bytes:
    subject = subject or f"test {secrets.token_hex(6)}"
    lines = [
        f"From: Sender <{sender}>",
        f"To: <{recipient}>",
        f"Subject: {subject}",
        f"Date: {format_datetime(utcnow())}",
        f"Message-ID: <{secrets.token_hex(8)}@tests.mailplane.test>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body or f"Hello,\r\n\r\nbody {secrets.token_hex(16)}",
        "",
    ]
    return "\r\n".join(lines).encode()


def queue(
    database: Database,
    recipients: list[str],
    *,
    sender: str = "app@sender.test",
    source: MessageSource = MessageSource.API,
    sign_domain: str | None = None,
    submitted_by: str | None = None,
    envelope_from: str = "",
    now: datetime | None = None,
    tenant_id: int | None = None,
    type: MessageType = MessageType.TRANSACTIONAL,
    batch_id: str | None = None,
) -> list[int]:
    """One message to ``recipients``; the delivery ids."""
    raw = raw_message(sender, recipients[0])
    with database.transaction() as session:
        queued = enqueue(
            session,
            NewMessage(
                raw=raw,
                recipients=recipients,
                source=source,
                message_id_header="<x@tests>",
                tenant_id=tenant_id,
                type=type,
                batch_id=batch_id,
                envelope_from=envelope_from or sender,
                header_from=sender,
                sign_domain=sign_domain,
                submitted_by=submitted_by,
            ),
            now=now,
        )
    return [delivery_id for _, delivery_id in queued.deliveries]


@contextmanager
def worker_running(settings: Settings) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(settings, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "the worker did not stop"


def deliveries(database: Database, ids: list[int]) -> list[Delivery]:
    with database.session(write=False) as session:
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id))
        return list(rows)


def attempts(database: Database, delivery_id: int) -> list[DeliveryAttempt]:
    with database.session(write=False) as session:
        rows = session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.id)
        )
        return list(rows)


def wait_until_final(database: Database, ids: list[int], timeout: float = 20.0) -> list[Delivery]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = deliveries(database, ids)
        if all(DeliveryStatus(r.status).is_final for r in rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"not final after {timeout}s: {[(r.id, r.status) for r in rows]}")


def deliver(
    settings: Settings, database: Database, ids: list[int], timeout: float = 20.0
) -> list[Delivery]:
    with worker_running(settings):
        return wait_until_final(database, ids, timeout)


def knot_txt(knot: Knot) -> Callable[..., bytes | None]:
    """dkimpy's DNS hook, answered by the Knot server."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        query = dns.message.make_query(name.decode().rstrip("."), "TXT")
        response = dns.query.udp(query, "127.0.0.1", port=knot.port, timeout=timeout)
        for rrset in response.answer:
            for item in rrset:
                return b"".join(item.strings)
        return None

    return lookup
