#!/usr/bin/env python3
"""Live mail events: the delay from an SMTP delivery to its WebSocket event, per source.

A fresh SQLite database with two mailboxes, the managed Postfix and Dovecot as
``mailplane up`` renders them, and the real API (``mailplane serve`` under uvicorn) on the
port Dovecot calls (introspection for XOAUTH2, push reports). For each source the API is
started with ``webmail_event_source`` set to it; a ``websockets`` client opens
``/api/v1/mail/events`` as the mailbox user and waits until the watcher is connected. Then
one message at a time goes to Postfix's inbound port (smtplib, one session); the clock
starts before the SMTP transaction and stops when the socket receives the message's
``mail.new_message`` (matched by subject). Sources: push (Dovecot's Lua driver posts to
the API), idle (an IMAP IDLE connection per watched mailbox), poll (STATUS every
``--poll-seconds``; fewer messages, since each waits up to one interval).

Usage: .venv/bin/python bench/webmail_events.py [--quick] [--messages N] [--poll-seconds S]
The last line is one JSON object: per source p50/p99 in seconds, ``event_p50_s`` and
``event_p99_s`` (the slower of IDLE and push) and ``poll_interval_s``. Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inbound
from mailplane import migrations
from mailplane.config import Settings
from mailplane.mailserver import bootstrap
from mailplane.mailserver.processes import MailServers

PORTS = (
    "smtp_port",
    "submission_port",
    "submissions_port",
    "inject_port",
    "imap_port",
    "imaps_port",
    "intake_port",
    "bounce_port",
    "api_port",
)


def make_settings(state: Path, db: Path) -> Settings:
    ports: dict[str, int] = {}
    for name in PORTS:
        port = inbound.free_port()
        while port in ports.values():
            port = inbound.free_port()
        ports[name] = port
    return Settings.model_validate(
        {
            "env": "test",
            "state_dir": state,
            "database_url": f"sqlite:///{db}",
            "secret_key": secrets.token_urlsafe(48),
            "mail_fsync": False,
            "argon2_memory_kib": 1024,
            "argon2_time_cost": 1,
            **ports,
        }
    )


@contextmanager
def api_process(settings: Settings, profile: Path | None = None, **overrides: str) -> Iterator[str]:
    """``mailplane serve`` on settings.api_port; ``profile``: under py-spy, which writes
    its collapsed stacks there on SIGINT."""
    env = {
        **os.environ,
        "MAILPLANE_ENV": "test",
        "MAILPLANE_STATE_DIR": str(settings.state_dir),
        "MAILPLANE_SECRET_KEY": settings.effective_secret(),
        "MAILPLANE_DATABASE_URL": settings.resolved_database_url,
        "MAILPLANE_ARGON2_MEMORY_KIB": "1024",
        "MAILPLANE_ARGON2_TIME_COST": "1",
        "MAILPLANE_IMAP_PORT": str(settings.imap_port),
        **{f"MAILPLANE_{k.upper()}": v for k, v in overrides.items()},
    }
    log = settings.state_dir / "log" / "api.log"
    with log.open("ab") as out:
        command = [sys.executable, "-m", "mailplane.cli.main", "serve"]
        command += ["--port", str(settings.api_port)]
        if profile is not None:
            spy = str(Path(sys.executable).with_name("py-spy"))
            command = [spy, "record", "--format", "raw", "-o", str(profile), "--", *command]
        server = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{settings.api_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start; see {log}")
            time.sleep(0.1)
        yield url
    finally:
        if profile is not None:
            server.send_signal(signal.SIGINT)
        else:
            server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def login(url: str, email: str) -> str:
    answer = httpx.post(
        url + "/api/v1/auth/login",
        json={"email": email, "password": inbound.PASSWORD, "account": "mailbox"},
        timeout=10,
    )
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure_events(
    source: str,
    n: int,
    *,
    api_url: str,
    smtp_port: int,
    email: str,
    token: str,
    jitter_s: float = 0.0,
) -> dict[str, Any]:
    """``n`` deliveries to ``email`` through ``smtp_port``, one at a time, each timed until
    its event arrives on a socket of the API at ``api_url`` (whose source is ``source``).
    ``jitter_s``: a random pause before each send (polling: one interval), so that sends
    do not stay in step with the polls."""
    ws_url = api_url.replace("http://", "ws://") + "/api/v1/mail/events"
    auth = {"Authorization": f"Bearer {token}"}
    delays: list[float] = []
    async with connect(ws_url, additional_headers=auth) as socket:
        async with httpx.AsyncClient(base_url=api_url, headers=auth, timeout=10) as http:
            for _ in range(300):
                status = (await http.get("/api/v1/mail/webmail/watchers")).json()
                if status["connected"]:
                    break
                await asyncio.sleep(0.1)
            if status["source"] != source:
                raise RuntimeError(f"the API watches by {status['source']}, not {source}")
        smtp = smtplib.SMTP("127.0.0.1", smtp_port, timeout=30)
        try:
            for i in range(n):
                subject = f"bench {source} {i} {secrets.token_hex(4)}"
                msg = EmailMessage()
                msg["From"] = "Bench <bench@outside.test>"
                msg["To"] = email
                msg["Subject"] = subject
                msg.set_content("x" * 500)
                await asyncio.sleep(random.uniform(0, jitter_s))
                started = time.perf_counter()
                await asyncio.to_thread(smtp.send_message, msg, "bench@outside.test", [email])
                while True:
                    event = json.loads(await asyncio.wait_for(socket.recv(), 300))
                    if (
                        event["type"] == "mail.new_message"
                        and event["data"]["message"]["subject"] == subject
                    ):
                        break
                delays.append(time.perf_counter() - started)
        finally:
            smtp.quit()
    return {
        "source": source,
        "messages": n,
        "p50_s": round(statistics.median(delays), 4),
        "p99_s": round(percentile(delays, 0.99), 4),
        "max_s": round(max(delays), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--messages", type=int, default=200, help="per source (IDLE, push)")
    parser.add_argument("--poll-seconds", type=float, default=60.0)
    parser.add_argument("--poll-messages", type=int, default=5)
    parser.add_argument("--sources", default="push,idle,poll", help="comma-separated")
    parser.add_argument("--keep", action="store_true", help="keep the state directory")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.poll_seconds, args.poll_messages = 30, 2.0, 3
    state = Path(tempfile.mkdtemp(prefix="mpe-", dir="/tmp"))
    os.chmod(state, 0o755)  # noqa: S103 (Postfix and Dovecot users pass through it)
    results: dict[str, dict[str, Any]] = {}
    try:
        db = state / "db" / "mailplane.sqlite"
        settings = make_settings(state, db)
        bootstrap.prepare_state(settings)
        migrations.upgrade(settings)
        inbound.populate(settings, db, 3)
        bootstrap.prepare_state(settings)
        servers = MailServers(settings)
        servers.start()
        try:
            runs = [
                ("push", args.messages, {}, "u0@b1.test"),
                ("idle", args.messages, {"webmail_event_source": "idle"}, "u1@b2.test"),
                (
                    "poll",
                    args.poll_messages,
                    {
                        "webmail_event_source": "poll",
                        "webmail_poll_seconds": str(args.poll_seconds),
                    },
                    "u2@b3.test",
                ),
            ]
            wanted = args.sources.split(",")
            for source, n, overrides, email in [run for run in runs if run[0] in wanted]:
                with api_process(settings, None, **overrides) as url:
                    token = login(url, email)
                    results[source] = asyncio.run(
                        measure_events(
                            source,
                            n,
                            api_url=url,
                            smtp_port=settings.smtp_port,
                            email=email,
                            token=token,
                            jitter_s=args.poll_seconds if source == "poll" else 0.0,
                        )
                    )
                print(json.dumps(results[source]), file=sys.stderr)
        finally:
            servers.kill()
    finally:
        if not args.keep:
            shutil.rmtree(state, ignore_errors=True)
    fast = [k for k in ("push", "idle") if k in results]
    summary = {
        **{f"{k}_p50_s": v["p50_s"] for k, v in results.items()},
        **{f"{k}_p99_s": v["p99_s"] for k, v in results.items()},
        "event_p50_s": max((results[k]["p50_s"] for k in fast), default=None),
        "event_p99_s": max((results[k]["p99_s"] for k in fast), default=None),
        "poll_interval_s": args.poll_seconds,
        "messages": args.messages,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
