#!/usr/bin/env python3
"""Throttles under load: do the limited flows keep their rate, and do the others flow?

One invocation, two runs of the same deliveries through the same worker processes into
one Postfix ``smtp-sink`` (the relay route, as in bench/delivery.py):

1. no limits configured: the rate of the unlimited deliveries (the reference);
2. a tenant limited to 500/minute and a destination domain limited to 1,200/minute
   (default bursts): the achieved rate of each limited flow over its steady period (after
   its initial burst), from the deliveries' ``finished_at``, against the configured rate
   (``*_limit_error_pct``, target within +-2 %), and the unlimited deliveries' rate
   against run 1 (``unthrottled_ratio``, target >= 0.9).

Deliveries: the limited tenant's (to other domains), the limited destination's (from the
other tenant), and the rest (the other tenant, 20 other domains); each flow is sized to
last about as long in both modes (full: 10,000 deliveries, the limited flows a minute;
``--quick``: 3,000, about 20 s).

Usage: .venv/bin/python bench/throttle.py [--quick] [--workers W] [--db postgresql]
The last line is one JSON object. Needs postfix's smtp-sink.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

import delivery
from mailplane import migrations
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.models import Delivery, Tenant, ThrottleLimit
from mailplane.models.statuses import DeliveryStatus, MessageSource
from mailplane.sending.queue import NewMessage, enqueue_many
from mailplane.throttling.service import default_burst

TENANT_RATE = 500  # per minute
DESTINATION_RATE = 1200  # per minute
LIMITED_DOMAIN = "limited.bench.test"
OTHER_DOMAINS = 20


@dataclass(frozen=True)
class Plan:
    tenant: int  # deliveries of the limited tenant
    destination: int  # to the limited domain
    rest: int


def plan(quick: bool) -> Plan:
    seconds = 20 if quick else 60
    total = 3000 if quick else 10_000
    tenant = TENANT_RATE * seconds // 60
    destination = DESTINATION_RATE * seconds // 60
    return Plan(tenant, destination, total - tenant - destination)


def tenants(settings: Settings) -> tuple[int, int]:
    database = Database(settings)
    with database.transaction() as session:
        limited, other = Tenant(name="limited"), Tenant(name="other")
        session.add_all([limited, other])
        session.flush()
        found = (limited.id, other.id)
    database.dispose()
    return found


def queue(settings: Settings, shape: Plan, limited: int, other: int) -> int:
    """Queue the deliveries (interleaved, as they would arrive); the highest id before."""
    database = Database(settings)
    with database.session(write=False) as session:
        before = int(session.scalar(select(func.max(Delivery.id))) or 0)
    flows = (
        [(limited, f"t{n}@dest{n % OTHER_DOMAINS}.bench.test") for n in range(shape.tenant)]
        + [(other, f"d{n}@{LIMITED_DOMAIN}") for n in range(shape.destination)]
        + [(other, f"r{n}@dest{n % OTHER_DOMAINS}.bench.test") for n in range(shape.rest)]
    )
    # Interleave: every flow is spread over the whole queue.
    random.Random(11).shuffle(flows)
    batch: list[NewMessage] = []
    for n, (tenant_id, recipient) in enumerate(flows):
        batch.append(
            NewMessage(
                raw=delivery.message("app@send.bench.test", recipient),
                recipients=[recipient],
                source=MessageSource.API,
                message_id_header="<bench>",
                tenant_id=tenant_id,
            )
        )
        if len(batch) == 1000 or n == len(flows) - 1:
            with database.transaction() as session:
                enqueue_many(session, batch)
            batch = []
    database.dispose()
    return before


def run(
    settings: Settings, sink: delivery.Sink, workers: int, after: int, total: int
) -> dict[str, list[float]]:
    """Deliver everything queued after id ``after``; finished times per flow."""
    database = Database(settings)
    finals = [s.value for s in DeliveryStatus if s.is_final]
    env = delivery.worker_env(settings, sink)
    try:
        with delivery.workers(env, workers):
            deadline = time.monotonic() + 900
            while True:
                with database.session(write=False) as session:
                    done = session.scalar(
                        select(func.count())
                        .select_from(Delivery)
                        .where(Delivery.id > after, Delivery.status.in_(finals))
                    )
                if done == total:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{done} of {total} final after 900 s")
                time.sleep(0.05)
        with database.session(write=False) as session:
            rows = session.execute(
                select(Delivery.recipient, Delivery.status, Delivery.finished_at).where(
                    Delivery.id > after
                )
            ).all()
    finally:
        database.dispose()
    times: dict[str, list[float]] = {"tenant": [], "destination": [], "rest": [], "lost": []}
    for recipient, status, finished in rows:
        flow = {"t": "tenant", "d": "destination", "r": "rest"}[recipient[0]]
        if status != DeliveryStatus.DELIVERED.value or finished is None:
            times["lost"].append(0.0)
            continue
        times[flow].append(finished.replace(tzinfo=UTC).timestamp())
    for values in times.values():
        values.sort()
    return times


def steady_rate(times: list[float], burst: int, busy_until: float) -> float:
    """Per minute: the least-squares slope of count over time, from the end of the
    initial burst and of the unlimited flow (while the workers are busy with it, outcomes
    commit late, which would shorten the measured span) to the last one."""
    start = max(burst, next((i for i, t in enumerate(times) if t > busy_until), burst))
    points = list(enumerate(times))[start:]
    mean_t = sum(t for _, t in points) / len(points)
    mean_n = sum(n for n, _ in points) / len(points)
    covariance = sum((t - mean_t) * (n - mean_n) for n, t in points)
    variance = sum((t - mean_t) ** 2 for _, t in points)
    return covariance / variance * 60


def flow_rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0])


def limit(settings: Settings, **values: object) -> None:
    database = Database(settings)
    with database.transaction() as session:
        session.add(ThrottleLimit(**values, created_at=datetime.now(UTC)))
    database.dispose()


def measure(quick: bool, workers: int, db: str) -> dict[str, float | int]:
    shape = plan(quick)
    total = shape.tenant + shape.destination + shape.rest
    root = Path(tempfile.mkdtemp(prefix="mp-bench-", dir="/tmp"))
    os.chmod(root, 0o755)  # noqa: S103 (postfix traverses it)
    sink = delivery.Sink()
    settings, stack = delivery.bench_settings(root, db)
    try:
        with stack:
            migrations.upgrade(settings)
            limited, other = tenants(settings)
            after = queue(settings, shape, limited, other)
            free = run(settings, sink, workers, after, total)
            reference = flow_rate(free["rest"])
            everything = flow_rate(sorted(free["rest"] + free["tenant"] + free["destination"]))
            print(f"no limits: rest {reference:.0f}/s, all {everything:.0f}/s", file=sys.stderr)
            tenant_burst = default_burst(TENANT_RATE, 60)
            destination_burst = default_burst(DESTINATION_RATE, 60)
            limit(settings, scope="tenant", tenant_id=limited, rate=TENANT_RATE,
                  period_seconds=60, burst=tenant_burst)  # fmt: skip
            limit(settings, scope="destination", domains=[LIMITED_DOMAIN],
                  rate=DESTINATION_RATE, period_seconds=60, burst=destination_burst)  # fmt: skip
            after = queue(settings, shape, limited, other)
            held = run(settings, sink, workers, after, total)
    finally:
        sink.stop()
        shutil.rmtree(root, ignore_errors=True)
    busy_until = held["rest"][-1]
    tenant_rate = steady_rate(held["tenant"], tenant_burst, busy_until)
    destination_rate = steady_rate(held["destination"], destination_burst, busy_until)
    rest_rate = flow_rate(held["rest"])
    print(
        f"limits: tenant {tenant_rate:.1f}/min, destination {destination_rate:.1f}/min, "
        f"rest {rest_rate:.0f}/s",
        file=sys.stderr,
    )
    return {
        "deliveries": total,
        "lost": len(free["lost"]) + len(held["lost"]),
        "tenant_rate_per_min": round(tenant_rate, 1),
        "tenant_limit_error_pct": round((tenant_rate / TENANT_RATE - 1) * 100, 2),
        "destination_rate_per_min": round(destination_rate, 1),
        "destination_limit_error_pct": round((destination_rate / DESTINATION_RATE - 1) * 100, 2),
        "unthrottled_per_s": round(rest_rate, 1),
        "unthrottled_reference_per_s": round(reference, 1),
        "unthrottled_ratio": round(rest_rate / reference, 3),
        # Stricter: against everything the reference run moved (the limited flows' mail
        # took part of its workers' time there; here it waits).
        "all_reference_per_s": round(everything, 1),
        "unthrottled_vs_all_ratio": round(rest_rate / everything, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="3,000 deliveries (under a minute)")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    figures = measure(args.quick, args.workers, args.db)
    print(json.dumps({"quick": args.quick, "workers": args.workers, "db": args.db, **figures}))
    return 0 if figures["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
