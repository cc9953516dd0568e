#!/usr/bin/env python3
"""Inbound throughput of the managed mail plane against static maps, in one run.

With N mailboxes (default 100,000, inserted in bulk with SQL) in a fresh SQLite database:

1. mailplane: Postfix + Dovecot as rendered by mailplane, every lookup live through the
   mp_* SQL views; Postfix's smtp-source into the inbound port until every message is a
   file in Maildir/new.
2. reference: the SAME Postfix and Dovecot configuration, but with the SAME rows dumped
   into postmap'd hash files and a Dovecot passwd-file (what a static setup would do).
3. smtp-sink: smtp-source into Postfix's smtp-sink, the machine's SMTP limit.

Plus lookup latency against N rows: the exact SQL that Postfix (virtual_alias_maps) and
Dovecot (passdb) run, in a timed loop; and `postmap -q` / `doveadm auth test` processes.

Usage: .venv/bin/python bench/inbound.py [--quick] [--mailboxes N] [--messages M]
The last line is one JSON object. Needs root, postfix and dovecot (like `mailplane up`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mailplane import migrations
from mailplane.auth.passwords import hash_password
from mailplane.config import Settings
from mailplane.mailserver import bootstrap
from mailplane.mailserver.layout import layout
from mailplane.mailserver.postfix_config import MAP_QUERIES
from mailplane.mailserver.processes import MailServers

DOMAINS = 100
PASSWORD = "bench-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_settings(state: Path, db: Path) -> Settings:
    ports = {
        name: free_port()
        for name in (
            "smtp_port",
            "submission_port",
            "submissions_port",
            "inject_port",
            "imap_port",
            "imaps_port",
        )
    }
    return Settings.model_validate(
        {
            "env": "test",
            "state_dir": state,
            "database_url": f"sqlite:///{db}",
            "mail_fsync": False,
            "argon2_memory_kib": 1024,
            "argon2_time_cost": 1,
            **ports,
        }
    )


def populate(settings: Settings, db: Path, mailboxes: int) -> float:
    """Bulk insert: one tenant, DOMAINS domains, `mailboxes` mailboxes (one shared hash)."""
    started = time.perf_counter()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    password_hash = hash_password(PASSWORD, settings)
    con = sqlite3.connect(db)
    with con:
        con.execute(
            "INSERT INTO tenants (id, name, status, notes, created_at, updated_at) "
            "VALUES (1, 'bench', 'active', '', ?, ?)",
            (now, now),
        )
        con.executemany(
            "INSERT INTO domains (id, tenant_id, name, status, verification_status, "
            "dns_automation, dns_settings, created_at, updated_at, ownership_token, owned_at, "
            "ownership_method) "
            "VALUES (?, 1, ?, 'active', 'verified', 'manual', '{}', ?, ?, ?, ?, 'operator')",
            [
                (d, f"b{d}.test", now, now, secrets.token_hex(16), now)
                for d in range(1, DOMAINS + 1)
            ],
        )
        rows = []
        for i in range(mailboxes):
            d = i % DOMAINS + 1
            local = f"u{i}"
            rows.append(
                (
                    1,
                    d,
                    local,
                    f"{local}@b{d}.test",
                    "",
                    password_hash,
                    1024,
                    "active",
                    storage_id(f"{local}@b{d}.test"),
                    maildir(f"{local}@b{d}.test"),
                    now,
                    now,
                    now,
                )
            )
        con.executemany(
            "INSERT INTO mailboxes (tenant_id, domain_id, local_part, email, display_name, "
            "password_hash, quota_mb, status, storage_id, maildir, created_at, updated_at, "
            "password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    con.execute("ANALYZE")
    con.close()
    return time.perf_counter() - started


def storage_id(email: str) -> str:
    """As mailplane gives every mailbox a UUID of its own; derived from the address here
    only so that the benchmark can find the Maildir again without a lookup."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailplane-bench:{email}"))


def maildir(email: str) -> str:
    return f"1/{storage_id(email)}/"  # "<tenant id>/<storage id>/", as the API makes them


def recipients(mailboxes: int, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"u{i}@b{i % DOMAINS + 1}.test" for i in rng.sample(range(mailboxes), count)]


def delivered(settings: Settings, rcpts: list[str]) -> int:
    total = 0
    for rcpt in rcpts:
        new = settings.mail_root / maildir(rcpt) / "Maildir" / "new"
        with contextlib.suppress(FileNotFoundError):
            total += sum(1 for _ in os.scandir(new))
    return total


def smtp_source(port: int, rcpts: list[str], messages: int, sessions: int, size: int) -> None:
    """One smtp-source per recipient, run in parallel; new connection per message."""
    per = messages // len(rcpts)
    procs = [
        subprocess.Popen(
            [
                "/usr/sbin/smtp-source",
                "-s",
                str(sessions),
                "-m",
                str(per),
                "-l",
                str(size),
                "-f",
                "bench@outside.test",
                "-M",
                "client.outside.test",
                "-t",
                rcpt,
                f"127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for rcpt in rcpts
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"smtp-source failed: {err.decode().strip()}")


def run_stack(
    settings: Settings,
    rcpts: list[str],
    messages: int,
    sessions: int,
    size: int,
    while_up: Callable[[], None] | None = None,
) -> tuple[float, float]:
    servers = MailServers(settings)
    servers.start()
    try:
        expected = messages // len(rcpts) * len(rcpts)
        started = time.perf_counter()
        smtp_source(settings.smtp_port, rcpts, messages, sessions, size)
        accepted = time.perf_counter() - started
        deadline = time.monotonic() + 600
        while delivered(settings, rcpts) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"only {delivered(settings, rcpts)}/{expected} delivered; "
                    f"see {settings.state_dir}/log"
                )
            time.sleep(0.05)
        total = time.perf_counter() - started
        if while_up is not None:
            while_up()
        return expected / accepted, expected / total
    finally:
        servers.kill()


def make_static(settings: Settings, db: Path) -> None:
    """Turn a rendered mailplane config into the static reference: same rows, hash maps."""
    paths = layout(settings)
    etc = paths.postfix_config
    con = sqlite3.connect(db)
    dumps = {
        "domains": "SELECT name, 'OK' FROM mp_virtual_domains",
        "mailboxes": "SELECT email, maildir FROM mp_mailboxes",
        "aliases": "SELECT source, destination FROM mp_virtual_aliases",
        "sender-logins": "SELECT sender, login FROM mp_sender_logins",
        "refused-recipients": "SELECT address, 'REJECT' FROM mp_refused_recipients",
    }
    for name, query in dumps.items():
        table = etc / name
        with table.open("w") as out:
            for key, value in con.execute(query):
                out.write(f"{key} {value}\n")
        subprocess.run(["postmap", "-c", str(etc), f"hash:{table}"], check=True)
        shutil.chown(f"{table}.db", "root", "postfix")
    for cf in ("main.cf", "master.cf"):
        text = (etc / cf).read_text()
        for name in dumps:
            text = text.replace(f"sqlite:{etc / name}.cf", f"hash:{etc / name}")
        (etc / cf).write_text(text)
    past = time.time() - 60
    os.utime(etc / "main.cf", (past, past))
    vmail = pwd.getpwnam(settings.vmail_user)
    users = paths.dovecot_config / "users"
    with users.open("w") as out:
        query = (
            "SELECT p.username, p.password, u.maildir, u.quota_rule FROM mp_dovecot_passdb p "
            "JOIN mp_dovecot_userdb u ON u.username = p.username"
        )
        for user, password, home_dir, quota in con.execute(query):
            home = f"{settings.mail_root}/{home_dir}"
            out.write(
                f"{user}:{password}:{vmail.pw_uid}:{vmail.pw_gid}::{home}::"
                f"userdb_quota_rule={quota}\n"
            )
    con.close()
    shutil.chown(users, "root", "dovecot")
    os.chmod(users, 0o640)
    conf = paths.dovecot_conf.read_text()
    sql_args = paths.dovecot_config / "dovecot-sql.conf.ext"
    conf = conf.replace("driver = sql", "driver = passwd-file")
    conf = conf.replace(f"args = {sql_args}", f"args = username_format=%u {users}")
    paths.dovecot_conf.write_text(conf)


def smtp_sink_rate(rcpts: list[str], messages: int, sessions: int, size: int) -> float:
    port = free_port()
    sink = subprocess.Popen(
        ["/usr/sbin/smtp-sink", "-u", "postfix", f"127.0.0.1:{port}", "256"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        started = time.perf_counter()
        smtp_source(port, rcpts, messages, sessions, size)
        return (messages // len(rcpts) * len(rcpts)) / (time.perf_counter() - started)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(10)


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] * 1000 if len(samples) > 1 else 0.0


def timed(fn: object, keys: list[str]) -> list[float]:
    out = []
    for key in keys:
        started = time.perf_counter()
        fn(key)  # type: ignore[operator]
        out.append(time.perf_counter() - started)
    return out


def lookups(
    settings: Settings, db: Path, mailboxes: int, loops: int, procs: int
) -> dict[str, float]:
    keys = recipients(mailboxes, loops, seed=7)
    # The exact queries Postfix and Dovecot send, as they expand %s/%d/%u.
    alias_sql = MAP_QUERIES["aliases"].replace("'%s'", "?").replace("'%d'", "?")
    passdb_sql = 'SELECT username AS "user", password FROM mp_dovecot_passdb WHERE username = ?'
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    alias = timed(lambda k: con.execute(alias_sql, (k, k.split("@")[1])).fetchall(), keys)
    passdb = timed(lambda k: con.execute(passdb_sql, (k,)).fetchall(), keys)
    con.close()
    etc = layout(settings).postfix_config
    postmap = timed(
        lambda k: subprocess.run(
            ["postmap", "-c", str(etc), "-q", k, f"sqlite:{etc / 'aliases.cf'}"],
            check=True,
            capture_output=True,
        ),
        keys[:procs],
    )
    conf = str(layout(settings).dovecot_conf)
    doveadm = timed(
        lambda k: subprocess.run(
            ["doveadm", "-c", conf, "auth", "test", k, PASSWORD], check=True, capture_output=True
        ),
        keys[:procs],
    )
    return {
        "postfix_alias_sql_p99_ms": round(p99(alias), 3),
        "dovecot_passdb_sql_p99_ms": round(p99(passdb), 3),
        "postmap_q_process_p99_ms": round(p99(postmap), 3),
        "doveadm_auth_test_process_p99_ms": round(p99(doveadm), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    parser.add_argument("--mailboxes", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--recipients", type=int, default=10, help="parallel smtp-sources")
    parser.add_argument("--sessions", type=int, default=2, help="sessions per smtp-source")
    parser.add_argument("--size", type=int, default=2000, help="message size in bytes")
    parser.add_argument("--keep", action="store_true", help="keep the state directories")
    args = parser.parse_args()
    messages = args.messages or (1000 if args.quick else 10_000)
    if os.geteuid() != 0:
        print("needs root (Postfix and Dovecot drop privileges themselves)", file=sys.stderr)
        return 2

    root = Path(tempfile.mkdtemp(prefix="mpb-", dir="/tmp"))
    os.chmod(root, 0o755)  # noqa: S103 (postfix, dovecot and vmail traverse it)
    try:
        db = root / "db" / "bench.sqlite"
        db.parent.mkdir()
        managed = make_settings(root / "m", db)
        migrations.upgrade(managed)
        insert_s = populate(managed, db, args.mailboxes)
        print(f"inserted {args.mailboxes} mailboxes in {insert_s:.1f} s", file=sys.stderr)
        bootstrap.prepare_state(managed)
        rcpts = recipients(args.mailboxes, args.recipients, seed=1)

        detail: dict[str, float] = {}

        def measure_lookups() -> None:
            loops, procs = (500, 20) if args.quick else (5000, 100)
            detail.update(lookups(managed, db, args.mailboxes, loops, procs))

        m_acc, m_rate = run_stack(
            managed, rcpts, messages, args.sessions, args.size, measure_lookups
        )
        print(f"mailplane: accepted {m_acc:.0f}/s, delivered {m_rate:.0f}/s", file=sys.stderr)

        reference = make_settings(root / "r", db)
        bootstrap.prepare_state(reference)
        make_static(reference, db)
        r_acc, r_rate = run_stack(reference, rcpts, messages, args.sessions, args.size)
        print(f"reference: accepted {r_acc:.0f}/s, delivered {r_rate:.0f}/s", file=sys.stderr)

        sink = smtp_sink_rate(rcpts, messages * 2, args.sessions, args.size)
        print(f"smtp-sink: {sink:.0f}/s", file=sys.stderr)

        print(json.dumps(detail), file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    result = {
        "benchmark": "inbound",
        "mailboxes": args.mailboxes,
        "messages": messages,
        "mailplane_msgs_per_s": round(m_rate, 1),
        "reference_msgs_per_s": round(r_rate, 1),
        "ratio": round(m_rate / r_rate, 3),
        "smtp_sink_msgs_per_s": round(sink, 1),
        "lookup_p99_ms": max(
            detail["postfix_alias_sql_p99_ms"], detail["dovecot_passdb_sql_p99_ms"]
        ),
        "mailplane_accepted_msgs_per_s": round(m_acc, 1),
        "reference_accepted_msgs_per_s": round(r_acc, 1),
        **detail,
    }
    print(f"ratio mailplane/reference: {result['ratio']}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
