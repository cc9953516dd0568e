#!/usr/bin/env python3
"""How fast the SMTP intake takes mail into mailplane's queue, against the machine's limit.

1. intake: Postfix's smtp-source straight into a real ``mailplane intake`` process (as
   Postfix's ``mailplane-intake`` transport would, a 250 only after the commit), N
   messages of 2 KB to 2 outside recipients each, S sessions, a fresh database.
2. reference: the same smtp-source into Postfix's smtp-sink (the SMTP limit; nothing
   stored).

Usage: .venv/bin/python bench/intake.py [--quick] [--messages N] [--sessions S]
       [--database-url URL]   (default: a fresh SQLite file)
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from mailplane import migrations
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.models import Delivery, OutboundMessage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port}")


def smtp_source(port: int, messages: int, sessions: int) -> float:
    args = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", "2000", "-r", "2"]
    args += ["-f", "sender@bench.test", "-t", "rcpt@outside.test", "-d", f"127.0.0.1:{port}"]
    started = time.perf_counter()
    subprocess.run(args, check=True, timeout=600)
    return time.perf_counter() - started


def intake_rate(state: Path, database_url: str | None, messages: int, sessions: int) -> float:
    intake_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPLANE_")}
    env |= {
        "MAILPLANE_ENV": "test",
        "MAILPLANE_STATE_DIR": str(state),
        "MAILPLANE_SECRET_KEY": secrets.token_urlsafe(32),
        "MAILPLANE_INTAKE_PORT": str(intake_port),
        "MAILPLANE_BOUNCE_PORT": str(free_port()),
    }
    if database_url:
        env["MAILPLANE_DATABASE_URL"] = database_url
    settings = Settings(state_dir=state, database_url=database_url, env="test")
    migrations.upgrade(settings)
    log = (state / "intake.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mailplane.cli.main", "intake"], env=env, stdout=log, stderr=log
    )
    try:
        wait_for_port(intake_port)
        seconds = smtp_source(intake_port, messages, sessions)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()
    database = Database(settings)
    with database.transaction() as session:
        stored = session.scalar(select(func.count()).select_from(OutboundMessage))
        deliveries = session.scalar(select(func.count()).select_from(Delivery))
    database.dispose()
    assert stored == messages, f"{stored} of {messages} messages stored"
    assert deliveries == 2 * messages, f"{deliveries} deliveries for {messages} messages"
    return messages / seconds


def sink_rate(messages: int, sessions: int) -> float:
    port = free_port()
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "256"])
    try:
        wait_for_port(port)
        return messages / smtp_source(port, messages, sessions)
    finally:
        sink.kill()
        sink.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    messages = 1000 if options.quick else options.messages
    state = Path(tempfile.mkdtemp(prefix="mpb-", dir="/tmp"))
    try:
        intake = intake_rate(state, options.database_url, messages, options.sessions)
        sink = sink_rate(messages, options.sessions)
    finally:
        if os.environ.get("KEEP") is None:
            shutil.rmtree(state, ignore_errors=True)
    print(f"intake: {intake:.0f} msg/s committed; smtp-sink: {sink:.0f} msg/s")
    result = {
        "messages": messages,
        "sessions": options.sessions,
        "intake_per_s": round(intake, 1),
        "smtp_sink_per_s": round(sink, 1),
        "intake_vs_sink": round(intake / sink, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
