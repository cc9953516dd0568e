#!/usr/bin/env python3
"""Delivery throughput: mailplane's engine against a plain Postfix relay, in one run.

All three measurements deliver 2 KB messages into the same Postfix ``smtp-sink``:

2. delivered_per_s: N messages (one recipient each, 20 destination domains, each signed
   with its own RSA-2048 DKIM key) are queued with ``enqueue``; ``mailplane worker``
   processes deliver them. Timed from the first message the sink sees to the last outcome
   committed (worker start-up is not delivery). Route: the relay setting pointing at the
   sink, the same route the Postfix reference takes (relayhost = the sink), and both
   with 20 connections to it (Postfix's default_destination_concurrency_limit).
3. postfix_relay_per_s: a plain Postfix (minimal configuration rendered into a temporary
   directory; relayhost = the sink) gets the N messages from ``smtp-source`` (20 sessions)
   on its smtpd port; timed from the first injection to the sink's N-th message.
4. smtp_sink_per_s: ``smtp-source`` straight into the sink, 20 sessions: the machine's
   SMTP limit.

Usage: .venv/bin/python bench/delivery.py [--quick] [--messages N] [--workers W]
       [--db postgresql]
The last line is one JSON object. Needs root and postfix (smtp-sink, smtp-source, master).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import func, select

from mailplane import migrations
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.dkim import keys
from mailplane.mailserver.bootstrap import _QUEUE_DIRS, _mkdir
from mailplane.mailserver.postfix_config import _INTERNAL_SERVICES
from mailplane.mailserver.requirements import POSTFIX_MASTER
from mailplane.models import Delivery, DkimKey, Domain, Tenant
from mailplane.models.statuses import DeliveryStatus, MessageSource, MessageType
from mailplane.sending.queue import NewMessage, enqueue_many

DOMAINS = 20
SESSIONS = 20
SIZE = 2048
SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"


# --bulk: bulk messages, signed per recipient with their List-Unsubscribe (unsubscribe/).
MESSAGE_TYPE = [MessageType.TRANSACTIONAL]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port}")


class Sink:
    """smtp-sink with running counters (-c): ``count`` is the messages received so far,
    ``first_at`` when the count first moved past ``mark``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.count = 0
        self.mark = 0
        self.first_at = 0.0
        self.last_at = 0.0
        self.process = subprocess.Popen(
            [SINK, "-c", "-u", "postfix", f"127.0.0.1:{self.port}", "1024"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        threading.Thread(target=self._read, daemon=True).start()
        wait_for_port(self.port)

    def _read(self) -> None:
        assert self.process.stdout is not None
        buffer = b""
        while chunk := self.process.stdout.read1(4096):  # type: ignore[attr-defined]
            buffer = (buffer + chunk)[-256:]
            found = re.findall(rb"mesg=(\d+)", buffer)
            if found:
                count = int(found[-1])
                now = time.perf_counter()
                if count > self.mark and self.first_at == 0.0:
                    self.first_at = now
                if count != self.count:
                    self.last_at = now
                self.count = count

    def arm(self) -> None:
        self.mark, self.first_at = self.count, 0.0

    def wait_for(self, total: int, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while self.count < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sink has {self.count} of {total}")
            time.sleep(0.005)
        return self.last_at

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def smtp_source(port: int, messages: int, sessions: int = SESSIONS) -> None:
    result = subprocess.run(
        [
            SOURCE,
            "-s",
            str(sessions),
            "-m",
            str(messages),
            "-l",
            str(SIZE),
            "-f",
            "bench@sender.test",
            "-t",
            "rcpt@dest0.bench.test",
            f"127.0.0.1:{port}",
        ],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"smtp-source failed: {result.stderr.decode().strip()}")


def smtp_sink_rate(sink: Sink, messages: int) -> float:
    started = time.perf_counter()
    smtp_source(sink.port, messages)
    return messages / (time.perf_counter() - started)


# --- (3) the reference: a plain Postfix relaying to the sink ---


def postfix_relay_rate(sink: Sink, messages: int, root: Path) -> float:
    etc, queue, data = root / "etc", root / "queue", root / "data"
    _mkdir(etc, 0o755)
    _mkdir(queue, 0o755)
    for name, owner, group, mode in _QUEUE_DIRS:
        _mkdir(queue / name, mode, owner, group)
    _mkdir(data, 0o700, "postfix")
    port = free_port()
    (etc / "main.cf").write_text(
        "\n".join(
            [
                "compatibility_level = 3.6",
                f"queue_directory = {queue}",
                f"data_directory = {data}",
                "mail_owner = postfix",
                "myhostname = relay.bench.test",
                "mydestination =",
                "inet_interfaces = 127.0.0.1",
                "inet_protocols = ipv4",
                "mynetworks = 127.0.0.0/8",
                "smtpd_relay_restrictions = permit_mynetworks, reject",
                f"relayhost = [127.0.0.1]:{sink.port}",
                "smtp_tls_security_level = none",
                "alias_maps =",
                "alias_database =",
                "local_recipient_maps =",
                f"maillog_file = {root}/maillog",
                # Any other log path is fatal for every Postfix command.
                f"maillog_file_prefixes = {root}",
                "setgid_group = postdrop",
                "queue_run_delay = 2s",
                "",
            ]
        )
    )
    (etc / "master.cf").write_text(f"127.0.0.1:{port} inet n - n - - smtpd\n" + _INTERNAL_SERVICES)
    master = subprocess.Popen(
        [str(POSTFIX_MASTER), "-d", "-c", str(etc)],
        stdout=(root / "master.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        target = sink.count + messages
        started = time.perf_counter()
        smtp_source(port, messages)
        finished = sink.wait_for(target, timeout=600)
        return messages / (finished - started)
    except BaseException:
        for log in ("master.log", "maillog"):
            with contextlib.suppress(OSError):
                print((root / log).read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        master.terminate()
        master.wait(10)


# --- (2) mailplane's delivery engine ---


def worker_env(settings: Settings, sink: Sink) -> dict[str, str]:
    env = {
        **os.environ,
        "MAILPLANE_ENV": "test",
        "MAILPLANE_STATE_DIR": str(settings.state_dir),
        "MAILPLANE_SECRET_KEY": settings.effective_secret(),
        "MAILPLANE_RELAY_HOST": f"127.0.0.1:{sink.port}",
        "MAILPLANE_RELAY_TLS": "none",
        "MAILPLANE_DELIVERY_CONCURRENCY_PER_DESTINATION": str(SESSIONS),
    }
    if settings.database_url is not None:
        env["MAILPLANE_DATABASE_URL"] = settings.database_url.get_secret_value()
    return env


def message(sender: str, recipient: str) -> bytes:
    head = (
        f"From: Bench <{sender}>\r\nTo: <{recipient}>\r\nSubject: bench {secrets.token_hex(4)}\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\n"
        f"Message-ID: <{secrets.token_hex(8)}@bench.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    line = "The quick brown fox jumps over the lazy dog, again and again.\r\n"
    body = line * ((SIZE - len(head)) // len(line))
    return (head + body).encode()


def prepare_queue(settings: Settings, messages: int) -> None:
    database = Database(settings)
    senders = [f"send{n}.bench.test" for n in range(DOMAINS)]
    with database.transaction() as session:
        tenant = Tenant(name="bench")
        session.add(tenant)
        session.flush()
        for name in senders:
            domain = Domain(
                tenant_id=tenant.id,
                name=name,
                owned_at=datetime.now(UTC),
                ownership_method="operator",
                verification_status="verified",
            )
            session.add(domain)
            session.flush()
            pair = keys.generate("rsa-2048")
            session.add(
                DkimKey(
                    domain_id=domain.id,
                    selector="mp1",
                    algorithm="rsa-2048",
                    private_key_pem=pair.private_key_pem,
                    public_key_b64=pair.public_key_b64,
                    status="active",
                )
            )
    batch = []
    for n in range(messages):
        sender = senders[n % DOMAINS]
        recipient = f"user{n}@dest{n % DOMAINS}.bench.test"
        batch.append(
            NewMessage(
                raw=message(f"app@{sender}", recipient),
                recipients=[recipient],
                source=MessageSource.API,
                message_id_header="<bench>",
                tenant_id=tenant.id,
                sign_domain=sender,
                type=MESSAGE_TYPE[0],
            )
        )
        if len(batch) == 1000 or n == messages - 1:
            with database.transaction() as session:
                enqueue_many(session, batch)
            batch = []
    database.dispose()


def final_count(database: Database) -> int:
    with database.session(write=False) as session:
        finals = [s.value for s in DeliveryStatus if s.is_final]
        return int(
            session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status.in_(finals))
            )
            or 0
        )


@contextlib.contextmanager
def workers(env: dict[str, str], count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "mailplane.cli.main", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


def delivery_rate(
    settings: Settings, sink: Sink, messages: int, count: int, profile: str | None = None
) -> tuple[float, int]:
    """Delivered messages/s and how many were delivered (all of them, or the run failed)."""
    prepare_queue(settings, messages)
    database = Database(settings)
    env = worker_env(settings, sink)
    sink.arm()
    try:
        with workers(env, count):
            deadline = time.monotonic() + 600
            while final_count(database) < messages:
                if time.monotonic() > deadline:
                    raise TimeoutError("deliveries not final after 600 s")
                time.sleep(0.01)
            finished = time.perf_counter()
        with database.session(write=False) as session:
            delivered = int(
                session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.status == DeliveryStatus.DELIVERED.value)
                )
                or 0
            )
    finally:
        database.dispose()
    return messages / (finished - sink.first_at), delivered


def profile_delivery(settings: Settings, sink: Sink, messages: int) -> None:
    """One worker in this process under cProfile; the top functions go to stderr."""
    import cProfile
    import pstats

    from mailplane.delivery.worker import run_worker

    prepare_queue(settings, messages)
    worker_settings = settings.model_copy(
        update={
            "relay_host": f"127.0.0.1:{sink.port}",
            "relay_tls": "none",
            "delivery_concurrency_per_destination": SESSIONS,
        }
    )
    database = Database(settings)
    stop = threading.Event()

    def watch() -> None:
        while final_count(database) < messages:
            time.sleep(0.05)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(run_worker, worker_settings, stop)
    print(f"profiled: {messages / (time.perf_counter() - started):.0f}/s", file=sys.stderr)
    database.dispose()
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(25)


def bench_settings(root: Path, db: str) -> tuple[Settings, contextlib.ExitStack]:
    stack = contextlib.ExitStack()
    url = None
    if db == "postgresql":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.support.postgres import postgres_cluster

        url = stack.enter_context(postgres_cluster())
    settings = Settings(
        env="test",
        state_dir=root / "state",
        database_url=url,
        secret_key=secrets.token_urlsafe(48),
    )
    return settings, stack


def measure(db: str, messages: int, worker_count: int) -> dict[str, float | int]:
    """Parts 2-4 in one run: the engine, the Postfix relay, smtp-source into smtp-sink."""
    root = Path(tempfile.mkdtemp(prefix="mp-bench-", dir="/tmp"))
    os.chmod(root, 0o755)  # noqa: S103 (postfix traverses it)
    sink = Sink()
    settings, stack = bench_settings(root, db)
    try:
        with stack:
            migrations.upgrade(settings)
            delivered_per_s, delivered = delivery_rate(settings, sink, messages, worker_count)
            print(f"delivery: {delivered_per_s:.0f}/s ({delivered} delivered)", file=sys.stderr)
        relay_per_s = postfix_relay_rate(sink, messages, root / "postfix")
        print(f"postfix relay: {relay_per_s:.0f}/s", file=sys.stderr)
        sink_per_s = smtp_sink_rate(sink, messages * 2)
        print(f"smtp-sink: {sink_per_s:.0f}/s", file=sys.stderr)
    finally:
        sink.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "delivered": delivered,
        "delivered_per_s": round(delivered_per_s, 1),
        "postfix_relay_per_s": round(relay_per_s, 1),
        "delivery_vs_postfix_relay": round(delivered_per_s / relay_per_s, 2),
        "smtp_sink_per_s": round(sink_per_s, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="3,000 messages (under a minute)")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--bulk", action="store_true", help="bulk mail (List-Unsubscribe)")
    parser.add_argument("--profile", action="store_true", help="profile one in-process worker")
    args = parser.parse_args()
    messages = 3000 if args.quick else args.messages
    if args.bulk:
        MESSAGE_TYPE[0] = MessageType.BULK
    if args.profile:
        root = Path(tempfile.mkdtemp(prefix="mp-bench-", dir="/tmp"))
        os.chmod(root, 0o755)  # noqa: S103 (postfix traverses it)
        sink = Sink()
        settings, stack = bench_settings(root, args.db)
        try:
            with stack:
                migrations.upgrade(settings)
                profile_delivery(settings, sink, messages)
        finally:
            sink.stop()
            shutil.rmtree(root, ignore_errors=True)
        return 0
    figures = measure(args.db, messages, args.workers)
    print(json.dumps({"messages": messages, "workers": args.workers, "db": args.db, **figures}))
    return 0 if figures["delivered"] == messages else 1


if __name__ == "__main__":
    sys.exit(main())
