"""Send API benchmark: accepted messages/s through POST /api/v1/send with concurrent
clients, and recipients/s through POST /api/v1/send/batch, against a real
``mailplane serve`` (SQLite in a temporary state dir unless --database-url is given).

Accepted means committed: each 202 is a stored message with one delivery per recipient.
Rate limits are raised for the run (the tenant's send_rate_per_hour); nothing is
delivered (no worker runs): this measures the accept half only.

Functions (``start_api``, ``prepare_sender``, ``accept_rate``, ``batch_rate``) are what
bench/send.py combines with the delivery engine's benchmark. The last line is one JSON
object with ``accept_per_s`` and ``batch_recipients_per_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.models import Domain, Tenant, utcnow


@dataclass(frozen=True)
class Api:
    url: str
    token: str  # a service token
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def start_api(database_url: str | None = None, **settings: str) -> Iterator[Api]:
    """``mailplane init`` and ``mailplane serve`` in a fresh state directory."""
    state = Path(tempfile.mkdtemp(prefix="mp-bench-send-"))
    port = free_port()
    env = {
        **os.environ,
        "MAILPLANE_ENV": "test",
        "MAILPLANE_STATE_DIR": str(state),
        **{f"MAILPLANE_{k.upper()}": v for k, v in settings.items()},
    }
    if database_url:
        env["MAILPLANE_DATABASE_URL"] = database_url
    cli = [sys.executable, "-m", "mailplane.cli.main"]
    init = subprocess.run([*cli, "init"], env=env, capture_output=True, text=True, check=True)
    token = next(w for w in init.stdout.split() if w.startswith("mpst_"))
    server = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.1)
        yield Api(base, token, env)
    finally:
        server.terminate()
        server.wait(timeout=15)
        shutil.rmtree(state, ignore_errors=True)


def prepare_sender(api: Api) -> tuple[str, str]:
    """A tenant with a verified domain (as DNS verification would leave it), a high send
    rate, and a server key. Returns (domain, key)."""
    headers = {"x-service-token": api.token}
    with httpx.Client(base_url=api.url, headers=headers, timeout=30) as client:
        tenant = client.post("/api/v1/tenants", json={"name": f"bench-{time.time_ns()}"}).json()
        domain = client.post(
            "/api/v1/mail/domains",
            json={"domain": f"send{tenant['id']}.test", "customer_id": tenant["id"], "owned": True},
        ).json()
        key = client.post(
            f"/api/v1/mail/domains/{domain['id']}/api-keys", json={"name": "bench"}
        ).json()
    settings = Settings(
        env="test",
        state_dir=Path(api.env["MAILPLANE_STATE_DIR"]),
        database_url=api.env.get("MAILPLANE_DATABASE_URL"),
        secret_key="x" * 40,
    )
    database = Database(settings)
    try:
        with database.transaction() as session:
            session.execute(
                update(Domain)
                .where(Domain.id == domain["id"])
                .values(verification_status="verified", verified_at=utcnow())
            )
            session.execute(
                update(Tenant).where(Tenant.id == tenant["id"]).values(send_rate_per_hour=10**9)
            )
    finally:
        database.dispose()
    return str(domain["domain_ascii"]), str(key["key"])


def message(domain: str, recipients: int, n: int) -> dict[str, Any]:
    """About 2 KB: a subject, a text and an html part."""
    paragraph = "Thank you for your order. " * 16
    return {
        "from": {"email": f"orders@{domain}", "name": "Orders"},
        "to": [f"customer{n}-{i}@example{i % 20}.com" for i in range(recipients)],
        "subject": f"Your order {n}",
        "text": paragraph,
        "html": f"<p>{paragraph}</p><p>Order <b>{n}</b></p>",
        "tags": ["order"],
    }


async def _drive(
    url: str, key: str, path: str, bodies: list[dict[str, Any]], concurrency: int
) -> tuple[float, list[int]]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"X-Api-Key": key}, timeout=120, limits=limits
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post(path, json=body)
                statuses.append(response.status_code)
                if response.status_code >= 300:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, statuses


def accept_rate(api: Api, domain: str, key: str, messages: int, concurrency: int) -> float:
    """Messages per second answered 202 by POST /api/v1/send (one recipient each)."""
    bodies = [message(domain, 1, n) for n in range(messages)]
    elapsed, _ = asyncio.run(_drive(api.url, key, "/api/v1/send", bodies, concurrency))
    return messages / elapsed


def batch_rate(
    api: Api,
    domain: str,
    key: str,
    batches: int,
    per_batch: int,
    recipients: int,
    concurrency: int,
) -> float:
    """Recipients per second queued through POST /api/v1/send/batch."""
    bodies = [
        {"messages": [message(domain, recipients, b * per_batch + n) for n in range(per_batch)]}
        for b in range(batches)
    ]
    elapsed, _ = asyncio.run(_drive(api.url, key, "/api/v1/send/batch", bodies, concurrency))
    return batches * per_batch * recipients / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    messages = 1000 if args.quick else 5000
    batches = 10 if args.quick else 40
    per_batch, recipients = 50, 100  # 5,000 recipients per request
    with start_api(args.database_url) as api:
        domain, key = prepare_sender(api)
        accept_rate(api, domain, key, 100, args.concurrency)  # warm up
        accept = accept_rate(api, domain, key, messages, args.concurrency)
        batch = batch_rate(api, domain, key, batches, per_batch, recipients, 2)
    result = {
        "database": "postgresql" if args.database_url else "sqlite",
        "messages": messages,
        "concurrency": args.concurrency,
        "batch": f"{batches} x {per_batch} messages x {recipients} recipients",
        "accept_per_s": round(accept, 1),
        "batch_recipients_per_s": round(batch, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
