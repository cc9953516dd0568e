#!/usr/bin/env python3
"""Bounce processing through a real stack: DSNs ingested and matched per second.

A fresh SQLite database with N delivered deliveries (queued in bulk through
``sending.queue.enqueue_many``, marked delivered), the managed Postfix as ``mailplane up``
renders it and a real ``mailplane intake`` (the bounce receiver and the bounce policy
service). A Python client sends one RFC 3464 DSN per delivery, with the null sender, to
its VERP return path on Postfix's inbound port (several sessions in parallel, many
messages per session); the clock stops when every delivery is ``bounced`` in the
database: Postfix's RCPT policy check, its queue, the relay to the receiver, parsing and
the one transaction per DSN are all inside.

Usage: .venv/bin/python bench/events.py [--quick] [--dsns N] [--sessions S]
The last line is one JSON object with ``dsn_per_s``. Needs root, like ``mailplane up``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import func, select, update

from mailplane import migrations
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.delivery.envelope import verp_address
from mailplane.mailserver import bootstrap
from mailplane.mailserver.processes import MailServers
from mailplane.models import Delivery
from mailplane.models.statuses import DeliveryStatus, MessageSource
from mailplane.sending.queue import NewMessage, enqueue_many

ORIGINAL = "From: app@sender.test\r\nTo: {rcpt}\r\nSubject: receipt\r\n\r\nThanks.\r\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_settings(state: Path, db: Path) -> Settings:
    names = ("smtp_port", "submission_port", "submissions_port", "inject_port", "imap_port")
    ports: dict[str, int] = {}
    for name in (*names, "imaps_port", "intake_port", "bounce_port"):
        port = free_port()
        while port in ports.values():
            port = free_port()
        ports[name] = port
    return Settings.model_validate(
        {
            "env": "test",
            "state_dir": state,
            "database_url": f"sqlite:///{db}",
            "secret_key": secrets.token_urlsafe(32),
            "mail_fsync": False,
            **ports,
        }
    )


def environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPLANE_")}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, bool):
            env[f"MAILPLANE_{name.upper()}"] = "true" if value else "false"
        elif isinstance(value, list | dict):
            env[f"MAILPLANE_{name.upper()}"] = json.dumps(value, default=str)
        else:
            env[f"MAILPLANE_{name.upper()}"] = str(value)
    return env


def delivered_deliveries(database: Database, count: int) -> list[tuple[int, str]]:
    messages = [
        NewMessage(
            raw=ORIGINAL.format(rcpt=f"r{i}@far.test").encode(),
            recipients=[f"r{i}@far.test"],
            source=MessageSource.API,
            message_id_header=f"<{i}@bench>",
            tenant_id=None,
            envelope_from="app@sender.test",
            header_from="app@sender.test",
        )
        for i in range(count)
    ]
    with database.transaction() as session:
        queued = enqueue_many(session, messages)
        ids = [(delivery_id, rcpt) for q in queued for rcpt, delivery_id in q.deliveries]
        session.execute(
            update(Delivery).values(status=DeliveryStatus.DELIVERED, next_attempt_at=None)
        )
    return ids


def dsn(settings: Settings, delivery_id: int, rcpt: str) -> tuple[str, bytes]:
    verp = verp_address(settings, delivery_id)
    text = (
        f"From: MAILER-DAEMON@mx.far.test\r\nTo: {verp}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.far.test\r\n\r\n"
        f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: User unknown\r\n\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n{ORIGINAL.split(chr(13))[0]}\r\n"
        "--B--\r\n"
    )
    return verp, text.encode()


def send_all(settings: Settings, work: list[tuple[str, bytes]]) -> None:
    with smtplib.SMTP(settings.mail_listen_address, settings.smtp_port, timeout=60) as client:
        for verp, raw in work:
            client.sendmail("", [verp], raw)


def bounced(database: Database) -> int:
    with database.session(write=False) as session:
        count = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status == DeliveryStatus.BOUNCED)
        )
    return int(count or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    parser.add_argument("--dsns", type=int, default=None)
    parser.add_argument("--sessions", type=int, default=8)
    args = parser.parse_args()
    count = args.dsns or (500 if args.quick else 5000)
    if os.geteuid() != 0:
        print("needs root (Postfix drops privileges itself)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="mpe-", dir="/tmp"))
    os.chmod(root, 0o755)  # noqa: S103 (postfix traverses it)
    intake: subprocess.Popen[bytes] | None = None
    servers: MailServers | None = None
    try:
        db = root / "db" / "bench.sqlite"
        db.parent.mkdir()
        settings = make_settings(root / "state", db)
        migrations.upgrade(settings)
        bootstrap.prepare_state(settings)
        database = Database(settings)
        targets = delivered_deliveries(database, count)
        work = [dsn(settings, delivery_id, rcpt) for delivery_id, rcpt in targets]
        log = (root / "intake.log").open("wb")
        intake = subprocess.Popen(
            [sys.executable, "-m", "mailplane.cli.main", "intake"],
            env=environment(settings),
            stdout=log,
            stderr=log,
        )
        servers = MailServers(settings)
        servers.start()
        deadline = time.monotonic() + 30
        while not settings.state_dir.joinpath("run", "mailplane", "bounce-policy").exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the intake did not start; see {root}/intake.log")
            time.sleep(0.05)
        started = time.perf_counter()
        threads = [
            threading.Thread(target=send_all, args=(settings, work[i :: args.sessions]))
            for i in range(args.sessions)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        accepted = time.perf_counter() - started
        deadline = time.monotonic() + 600
        while (done := bounced(database)) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done}/{count} bounced; see {root}")
            time.sleep(0.05)
        total = time.perf_counter() - started
        database.dispose()
        result = {
            "dsns": count,
            "sessions": args.sessions,
            "accepted_per_s": round(count / accepted, 1),
            "dsn_per_s": round(count / total, 1),
        }
        print(json.dumps(result))
        return 0
    finally:
        if servers is not None:
            servers.kill()
        if intake is not None:
            intake.send_signal(signal.SIGTERM)
            try:
                intake.wait(15)
            except subprocess.TimeoutExpired:
                intake.kill()
                intake.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
