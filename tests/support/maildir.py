"""Many messages in a mailbox at once: Maildir files written directly (Dovecot indexes
them at the next SELECT), for large-folder tests and bench/webmail.py. Needs root (the
files belong to the mail user)."""

from __future__ import annotations

import os
import pwd
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.models import Mailbox


def message_file(index: int, to: str, when: datetime) -> bytes:
    """Message ``index``: threads of five (a question and four replies)."""
    thread = index // 5
    headers = [
        f"From: Sender {index % 97} <sender{index % 97}@outside.test>",
        f"To: {to}",
        f"Subject: {'Re: ' if index % 5 else ''}Topic {thread}",
        f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"Message-ID: <m{index}@bench.test>",
    ]
    if index % 5:
        headers.append(f"In-Reply-To: <m{thread * 5}@bench.test>")
        headers.append(f"References: <m{thread * 5}@bench.test>")
    headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    body = f"Hello,\r\n\r\nthis is message {index} of a large folder.\r\n" + "x" * 1500 + "\r\n"
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def fill_inbox(settings: Settings, database: Database, mailbox_id: int, count: int) -> None:
    """``count`` messages in the mailbox's INBOX, oldest first; every third one unread."""
    with database.session(write=False) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        assert mailbox is not None
        home, to = settings.mail_root / mailbox.maildir, mailbox.email
    maildir = home / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    base = int(start.timestamp())
    for index in range(count):
        stamp = base + index * 60
        seen = "S" if index % 3 else ""
        path = maildir / "cur" / f"{stamp}.M{index}P1.filled:2,{seen}"
        path.write_bytes(message_file(index, to, start + timedelta(minutes=index)))
        os.utime(path, (stamp, stamp))
    _chown_tree(home, settings.vmail_user)


def _chown_tree(root: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for directory, _dirs, files in os.walk(root):
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(directory, name), entry.pw_uid, entry.pw_gid)
