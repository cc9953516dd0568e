#!/usr/bin/env python3
"""Webhook latency: from a delivery outcome's commit to the signed webhook's arrival.

N messages (one recipient each) of a tenant with one webhook endpoint (events filtered to
``message.delivered``) are queued at ``--rate`` messages per second (0: all at once, a
burst that measures the dispatcher's throughput more than its latency); one
``mailplane worker`` process (the delivery engine and its webhook dispatcher) delivers
them to Postfix's ``smtp-sink`` through the relay setting and POSTs each
``message.delivered`` event to a receiver on loopback, which verifies every signature with
``standardwebhooks``. Latency per message: the receiver's
arrival time minus the delivery row's ``updated_at`` (set in the transaction that records
the outcome, a moment before its commit, so the figure errs high by that moment).

Usage: .venv/bin/python bench/webhooks.py [--quick] [--messages N] [--rate R]
       [--db postgresql]
The last line is one JSON object with webhook_p50_ms and webhook_p99_ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select
from tests.webhooks.receiver import Receiver, receiver_running, verified

import delivery
from mailplane import migrations
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.models import Delivery, Tenant, WebhookEndpoint
from mailplane.models.statuses import MessageSource
from mailplane.sending.queue import NewMessage, enqueue_many
from mailplane.webhooks import secrets


def prepare(settings: Settings, receiver: Receiver) -> tuple[str, int]:
    """A tenant and its endpoint; (secret, tenant id)."""
    database = Database(settings)
    secret = secrets.new_secret()
    with database.transaction() as session:
        tenant = Tenant(name="bench")
        session.add(tenant)
        session.flush()
        session.add(
            WebhookEndpoint(
                tenant_id=tenant.id,
                url=receiver.url("/bench"),
                event_types=["message.delivered"],
                secret_encrypted=secrets.encrypt(settings, secret),
                enabled=True,
            )
        )
        tenant_id = tenant.id
    database.dispose()
    return secret, tenant_id


def queue(settings: Settings, tenant_id: int, messages: int, rate: float) -> list[int]:
    """Queue the messages, all at once (rate 0) or in tenths of a second at ``rate``
    messages per second (the worker runs meanwhile); the delivery ids."""
    database = Database(settings)
    step = 500 if rate <= 0 else max(1, int(rate / 10))
    ids: list[int] = []
    started = time.monotonic()
    for start in range(0, messages, step):
        if rate > 0:
            time.sleep(max(0.0, started + start / rate - time.monotonic()))
        batch = [
            NewMessage(
                raw=delivery.message("app@send.bench.test", f"user{n}@dest.bench.test"),
                recipients=[f"user{n}@dest.bench.test"],
                source=MessageSource.API,
                message_id_header="<bench>",
                tenant_id=tenant_id,
            )
            for n in range(start, min(start + step, messages))
        ]
        with database.transaction() as session:
            for queued in enqueue_many(session, batch):
                ids.extend(d for _, d in queued.deliveries)
    database.dispose()
    return ids


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(db: str, messages: int, rate: float) -> dict[str, float | int]:
    root = Path(tempfile.mkdtemp(prefix="mp-bench-", dir="/tmp"))
    os.chmod(root, 0o755)  # noqa: S103 (postfix traverses it)
    sink = delivery.Sink()
    settings, stack = delivery.bench_settings(root, db)
    try:
        with stack, receiver_running() as receiver:
            migrations.upgrade(settings)
            secret, tenant_id = prepare(settings, receiver)
            env = delivery.worker_env(settings, sink)
            if rate <= 0:
                ids = queue(settings, tenant_id, messages, rate)
            with delivery.workers(env, 1):
                if rate > 0:
                    time.sleep(2)  # the worker's start-up is not webhook latency
                    ids = queue(settings, tenant_id, messages, rate)
                got = receiver.wait("/bench", messages, timeout=300)
            database = Database(settings)
            with database.session(write=False) as session:
                committed = {
                    d.id: d.updated_at.timestamp()
                    for d in session.scalars(select(Delivery).where(Delivery.id.in_(ids)))
                }
            database.dispose()
            latencies = []
            commits = sorted(committed.values())
            arrivals = sorted(r.at for r in got)
            print(
                f"outcomes committed over {commits[-1] - commits[0]:.2f} s, webhooks arrived"
                f" over {arrivals[-1] - arrivals[0]:.2f} s",
                file=sys.stderr,
            )
            for request in got:
                data = verified(secret, request)["data"]
                latencies.append((request.at - committed[data["delivery_id"]]) * 1000)
    finally:
        sink.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "webhooks": len(latencies),
        "webhook_p50_ms": round(percentile(latencies, 0.50), 1),
        "webhook_p99_ms": round(percentile(latencies, 0.99), 1),
        "webhook_max_ms": round(max(latencies), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="300 messages (under a minute)")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="messages queued per second; 0: all at once"
    )
    args = parser.parse_args()
    messages = 300 if args.quick else args.messages
    started = time.monotonic()
    figures = measure(args.db, messages, args.rate)
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(
        json.dumps(
            {
                "benchmark": "webhooks",
                "messages": messages,
                "rate": args.rate,
                "db": args.db,
                **figures,
            }
        )
    )
    return 0 if figures["webhooks"] == messages else 1


if __name__ == "__main__":
    sys.exit(main())
