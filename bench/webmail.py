#!/usr/bin/env python3
"""The webmail API against a large folder, pooled IMAP connections against a new IMAP
connection per request (what Modoboa does), in one run; plus the delay from SMTP delivery
to the WebSocket event (bench/webmail_events.py) when that module is present.

Setup: a fresh SQLite database, the managed Postfix and Dovecot as ``mailplane up``
renders them, the real API (``mailplane serve``) on the port Dovecot introspects at, one
mailbox whose INBOX holds N messages (default 50,000, written as Maildir files, then
indexed by Dovecot once before measuring).

Measured, each over R sequential requests of one logged-in user, p50/p99 in ms:
- list_first: GET /api/v1/mail/webmail/messages/INBOX (page 1 of 50, newest first);
- list_deep: the same at page N/50 * 9/10 (about message 45,000 from the top);
- open: GET /api/v1/mail/webmail/messages/INBOX/{uid} of random messages.
Then the same with MAILPLANE_WEBMAIL_POOL_REUSE=false: each request connects, mints a
token, logs in with XOAUTH2 (Dovecot introspects it at the API) and selects the folder.
``pooled_vs_new_connection`` is the reference's total time over the pooled one's.

Usage: .venv/bin/python bench/webmail.py [--quick] [--messages N] [--requests R]
The last line is one JSON object. Needs root (Postfix, Dovecot, vmail-owned Maildirs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mailplane import migrations
from mailplane.auth import service_tokens
from mailplane.db import Database
from mailplane.mailserver import bootstrap
from mailplane.mailserver.processes import MailServers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.maildir import fill_inbox  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webmail_events import api_process, make_settings, percentile  # noqa: E402

PASSWORD = "bench-password-1"
PER_PAGE = 50


def timed(requests: int, call: Callable[[int], httpx.Response]) -> list[float] | None:
    samples = []
    for n in range(requests):
        started = time.perf_counter()
        answer = call(n)
        samples.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            print(f"  {answer.request.url}: {answer.status_code} {answer.text[:200]}")
            return None
    return samples


def measure(url: str, email: str, total: int, requests: int, label: str) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=60) as http:
        login = http.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "account": "mailbox"}
        )
        login.raise_for_status()
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        deep = max(1, (total // PER_PAGE) * 9 // 10)
        first = http.get("/api/v1/mail/webmail/messages/INBOX", params={"per_page": PER_PAGE})
        first.raise_for_status()
        uids = [m["uid"] for m in first.json()["messages"]]
        deep_page = http.get(
            "/api/v1/mail/webmail/messages/INBOX", params={"page": deep, "per_page": PER_PAGE}
        ).json()
        uids += [m["uid"] for m in deep_page["messages"]]
        rng = random.Random(7)
        results: dict[str, Any] = {}
        calls: dict[str, Callable[[int], httpx.Response]] = {
            "list_first": lambda _n: http.get(
                "/api/v1/mail/webmail/messages/INBOX", params={"per_page": PER_PAGE}
            ),
            "list_deep": lambda _n: http.get(
                "/api/v1/mail/webmail/messages/INBOX", params={"page": deep, "per_page": PER_PAGE}
            ),
            "open": lambda _n: http.get(f"/api/v1/mail/webmail/messages/INBOX/{rng.choice(uids)}"),
        }
        for name, call in calls.items():
            samples = timed(requests, call)
            if samples is None:
                results[name] = None
                continue
            results[name] = {
                "p50_ms": round(statistics.median(samples), 2),
                "p99_ms": round(percentile(samples, 0.99), 2),
                "total_s": round(sum(samples) / 1000, 3),
            }
            print(f"  {label} {name}: {results[name]}")
    return results


def events_figures(quick: bool) -> dict[str, Any]:
    """bench/webmail_events.py in its own process (its own stack): the delay from SMTP
    delivery to the WebSocket event per source; its last line is JSON."""
    script = Path(__file__).with_name("webmail_events.py")
    command = [sys.executable, str(script), *(["--quick"] if quick else [])]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    print("\n".join(lines[:-1]))
    if done.returncode != 0 or not lines:
        print(f"bench/webmail_events.py failed ({done.returncode}): {done.stderr[-2000:]}")
        return {}
    figures: dict[str, Any] = json.loads(lines[-1])
    return {"events": figures, **{k: figures.get(k) for k in EVENT_FIGURES}}


EVENT_FIGURES = ("event_p50_s", "event_p99_s", "poll_interval_s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 messages, 30 requests")
    parser.add_argument("--messages", type=int)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--profile", type=Path, help="py-spy output (collapsed stacks)")
    args = parser.parse_args()
    count = args.messages or (5_000 if args.quick else 50_000)
    requests = args.requests or (30 if args.quick else 200)
    if os.geteuid() != 0:
        print("needs root (Postfix, Dovecot, vmail-owned Maildirs)", file=sys.stderr)
        return 2

    state = Path(tempfile.mkdtemp(prefix="mpw-", dir="/tmp"))
    os.chmod(state, 0o755)  # noqa: S103 (Postfix and Dovecot users traverse it)
    settings = make_settings(state, state / "mailplane.db")
    servers: MailServers | None = None
    try:
        bootstrap.prepare_state(settings)
        migrations.upgrade(settings)
        database = Database(settings)
        with database.transaction() as session:
            _, token = service_tokens.create(session, "bench", ["admin", "read"])
        servers = MailServers(settings)
        servers.start()
        figures: dict[str, Any] = {"messages": count, "requests": requests}
        with api_process(settings, args.profile) as url:
            operator = httpx.Client(base_url=url, timeout=30, headers={"x-service-token": token})
            tenant = operator.post("/api/v1/tenants", json={"name": "bench"}).json()
            domain = operator.post(
                "/api/v1/mail/domains",
                json={"domain": "bench.test", "customer_id": tenant["id"], "owned": True},
            ).json()
            box = operator.post(
                f"/api/v1/mail/domains/{domain['id']}/accounts",
                json={"local_part": "big", "password": PASSWORD},
            ).json()
            started = time.perf_counter()
            fill_inbox(settings, database, box["id"], count)
            figures["fill_s"] = round(time.perf_counter() - started, 2)
            with httpx.Client(base_url=url, timeout=300) as http:
                login = http.post(
                    "/api/v1/auth/login",
                    json={"email": box["email"], "password": PASSWORD, "account": "mailbox"},
                ).json()
                started = time.perf_counter()
                page = http.get(
                    "/api/v1/mail/webmail/messages/INBOX",
                    headers={"Authorization": f"Bearer {login['access_token']}"},
                )
                page.raise_for_status()
                assert page.json()["total"] == count, page.json()["total"]
                figures["first_list_after_fill_s"] = round(time.perf_counter() - started, 2)
            print(f"{count} messages written in {figures['fill_s']} s, indexed by the first list")
            pooled = measure(url, box["email"], count, requests, "pooled")
        with api_process(settings, None, webmail_pool_reuse="false") as url:
            fresh = measure(url, box["email"], count, requests, "new connection")
        figures["pooled"] = pooled
        figures["new_connection"] = fresh
        for name in ("list_first", "list_deep", "open"):
            figures[f"{name}_p50_ms"] = (pooled.get(name) or {}).get("p50_ms")
            figures[f"{name}_p99_ms"] = (pooled.get(name) or {}).get("p99_ms")
        lists = [figures["list_first_p99_ms"], figures["list_deep_p99_ms"]]
        figures["list_p99_ms"] = max(v for v in lists if v is not None)
        ours = sum(v["total_s"] for v in pooled.values() if v)
        theirs = sum(
            fresh[name]["total_s"] for name, value in pooled.items() if value and fresh.get(name)
        )
        figures["pooled_vs_new_connection"] = round(theirs / ours, 2) if ours else None
    finally:
        if servers is not None:
            servers.kill()
        shutil.rmtree(state, ignore_errors=True)
    figures.update(events_figures(args.quick))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
