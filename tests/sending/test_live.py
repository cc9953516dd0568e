"""What only real API processes show: rate limits shared by two of them, and a kill -9
that loses nothing answered 202."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import httpx
from sqlalchemy import func, select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.models import Delivery, OutboundMessage
from tests.delivery.support import deliver
from tests.support.api import Api
from tests.support.live_api import live_api, live_api_process
from tests.support.mx import RemoteMx
from tests.support.ports import free_port
from tests.support.senders import Sender, make_sender


def _body(sender: Sender, recipients: int = 1) -> dict[str, Any]:
    return {
        "from": f"a@{sender.domain}",
        "to": [f"r{i}@example.com" for i in range(recipients)],
        "subject": "s",
        "text": "t",
    }


def _messages(database: Database, domain_id: int) -> int:
    with database.session(write=False) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboundMessage)
                .where(OutboundMessage.domain_id == domain_id)
            )
            or 0
        )


def test_rate_limits_hold_across_two_processes(
    api: Api, database: Database, settings: Settings
) -> None:
    domain_limited = make_sender(api, database, rate_per_hour=None)  # the setting: 10/hour
    key_limited = make_sender(api, database, rate_limit_per_hour=3)
    with (
        live_api(settings, send_rate_per_hour="10") as first,
        live_api(settings, send_rate_per_hour="10") as second,
        httpx.Client(base_url=first, timeout=30) as one,
        httpx.Client(base_url=second, timeout=30) as two,
    ):
        # Counted in recipients: 4 + 4, then 4 more is over; nothing of it is queued.
        assert (
            one.post(
                "/api/v1/send", json=_body(domain_limited, 4), headers=domain_limited.headers()
            ).status_code
            == 202
        )
        ok = two.post(
            "/api/v1/send", json=_body(domain_limited, 4), headers=domain_limited.headers()
        )
        assert ok.status_code == 202
        assert (ok.headers["ratelimit-limit"], ok.headers["ratelimit-remaining"]) == ("10", "2")
        over = one.post(
            "/api/v1/send", json=_body(domain_limited, 4), headers=domain_limited.headers()
        )
        assert (over.status_code, over.json()["error"]) == (429, "rate_limited")
        assert int(over.headers["retry-after"]) >= 1
        assert over.headers["ratelimit-limit"] == "10"
        assert over.headers["ratelimit-remaining"] == "2"
        assert 1 <= int(over.headers["ratelimit-reset"]) <= 3600
        assert _messages(database, domain_limited.domain_id) == 2
        # The refused request counted nothing: two more still fit, then none.
        clients = [one, two]
        answers = [
            clients[i % 2]
            .post("/api/v1/send", json=_body(domain_limited), headers=domain_limited.headers())
            .status_code
            for i in range(4)
        ]
        assert answers == [202, 202, 429, 429]
        assert _messages(database, domain_limited.domain_id) == 4

        key_answers = [
            clients[i % 2]
            .post("/api/v1/send", json=_body(key_limited), headers=key_limited.headers())
            .status_code
            for i in range(5)
        ]
        assert key_answers == [202, 202, 202, 429, 429]


def _deliveries(database: Database, message_ids: set[str]) -> dict[str, int]:
    with database.session(write=False) as session:
        rows = session.execute(
            select(Delivery.message_id, func.count())
            .where(Delivery.message_id.in_(message_ids))
            .group_by(Delivery.message_id)
        )
        return {str(message_id): int(count) for message_id, count in rows}


def test_kill_9_loses_nothing_answered_202(
    api: Api, database: Database, settings: Settings
) -> None:
    """Clients post while the API is killed with SIGKILL: every message it answered 202
    for is in the queue with all its deliveries, and a worker then delivers every one."""
    sender = make_sender(api, database)
    accepted: dict[str, int] = {}  # message id -> recipients answered
    lock = threading.Lock()
    stop = threading.Event()
    with live_api_process(settings) as server:

        def client(number: int) -> None:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                while not stop.is_set():
                    try:
                        response = http.post(
                            "/api/v1/send",
                            json=_body(sender, 1 + number % 5),
                            headers=sender.headers(),
                        )
                    except httpx.HTTPError:
                        return  # the server is gone
                    if response.status_code == 202:
                        answer = response.json()
                        with lock:
                            accepted[answer["id"]] = len(answer["recipients"])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while len(accepted) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        stop.set()
        for thread in threads:
            thread.join()
    assert len(accepted) >= 50
    stored = _deliveries(database, set(accepted))
    assert stored == accepted

    # Delivered: a worker relays everything due to an outside server that takes it all.
    outside = RemoteMx("127.0.0.8", free_port())
    outside.start()
    try:
        relay = settings.model_copy(
            update={"relay_host": f"127.0.0.8:{outside.port}", "relay_tls": "none"}
        )
        with database.session(write=False) as session:
            ids = list(
                session.scalars(select(Delivery.id).where(Delivery.message_id.in_(accepted)))
            )
        rows = deliver(relay, database, ids, timeout=180)
    finally:
        outside.stop()
    assert {row.status for row in rows} == {"delivered"}
    # One transaction per delivery; other tests' due rows may arrive there too.
    assert len(outside.messages) >= sum(accepted.values())
