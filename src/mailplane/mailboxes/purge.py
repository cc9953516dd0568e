"""The purge: removes the files of deleted mailboxes once their grace period is over.

Runs inside ``mailplane up`` (a loop beside the DNS re-check) and as ``mailplane mailboxes
purge``. Both run as root, and the files belong to vmail.

A run claims due rows in a short transaction (``purge_started_at``; a restore refuses a
claimed row), removes the files outside any transaction, then deletes each row and audits
it. A crash between the two leaves a claimed row whose lease runs out; the next run finds
the files gone and finishes. Paths come from the database, so they are trusted only as
far as :func:`remove_storage` checks them: strictly below the mail root, no ``..``, and no
symbolic link followed on the way (a tenant's Maildir cannot point the purge elsewhere).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import SYSTEM, Principal
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.models import DeletedMailbox, Mailbox, utcnow

log = logging.getLogger(__name__)

# A claimed row not finished within this time (a crash) is claimed again.
CLAIM_LEASE = timedelta(minutes=10)
BATCH = 50

Outcome = Literal["removed", "absent", "refused", "failed"]


@dataclass(frozen=True)
class Removal:
    outcome: Outcome
    detail: str = ""


def storage_parts(maildir: str) -> tuple[str, ...] | None:
    """The path's components below the mail root, or None if it could leave it."""
    if not maildir or maildir.startswith("/") or "\x00" in maildir:
        return None
    parts = tuple(maildir.rstrip("/").split("/"))
    if not parts or any(part in ("", ".", "..") for part in parts):
        return None
    return parts


def remove_storage(mail_root: Path, maildir: str) -> Removal:
    """Remove ``mail_root/maildir`` and everything below it, following no symbolic link.

    The mail root itself may be a link (an operator's choice); nothing below it is
    followed: each directory is opened relative to its parent with O_NOFOLLOW, and
    ``shutil.rmtree`` with ``dir_fd`` works on file descriptors and unlinks links rather
    than entering them.
    """
    parts = storage_parts(maildir)
    if parts is None:
        return Removal("refused", f"{maildir!r} is not a path below the mail root")
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    try:
        parent = os.open(mail_root, flags)
    except FileNotFoundError:
        return Removal("absent")
    opened = [parent]
    try:
        for part in parts[:-1]:
            try:
                parent = os.open(part, flags | os.O_NOFOLLOW, dir_fd=parent)
            except FileNotFoundError:
                return Removal("absent")
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    return Removal("refused", f"{part!r} in {maildir!r} is not a directory")
                raise
            opened.append(parent)
        try:
            mode = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return Removal("absent")
        if not stat.S_ISDIR(mode):
            return Removal("refused", f"{maildir!r} is not a directory")
        shutil.rmtree(parts[-1], dir_fd=parent)
        return Removal("removed")
    except OSError as exc:
        return Removal("failed", f"{maildir!r}: {exc.strerror or exc}")
    finally:
        for fd in reversed(opened):
            os.close(fd)


@dataclass(frozen=True)
class Claimed:
    id: int
    tenant_id: int
    email: str
    maildir: str


def claim(
    settings: Settings,
    database: Database,
    now: datetime,
    *,
    ids: list[int] | None = None,
    limit: int = BATCH,
) -> list[Claimed]:
    """Claim the rows due at ``now`` (or exactly ``ids``, due or not: an operator's call)."""
    with database.transaction() as session:
        unclaimed = or_(
            DeletedMailbox.purge_started_at.is_(None),
            DeletedMailbox.purge_started_at <= now - CLAIM_LEASE,
        )
        query = select(DeletedMailbox).where(unclaimed)
        if ids is None:
            query = query.where(DeletedMailbox.purge_after <= now)
        else:
            query = query.where(DeletedMailbox.id.in_(ids))
        query = query.order_by(DeletedMailbox.purge_after, DeletedMailbox.id).limit(limit)
        if not settings.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        for row in rows:
            row.purge_started_at = now
        return [Claimed(r.id, r.tenant_id, r.email, r.maildir) for r in rows]


def _in_use(session: Session, maildir: str) -> bool:
    """A live mailbox on the same files (never made so, but never trusted either)."""
    return session.scalar(select(Mailbox.id).where(Mailbox.maildir == maildir)) is not None


def purge_claimed(
    settings: Settings,
    database: Database,
    claimed: list[Claimed],
    principal: Principal = SYSTEM,
) -> dict[Outcome, int]:
    counts: dict[Outcome, int] = {"removed": 0, "absent": 0, "refused": 0, "failed": 0}
    results: list[tuple[Claimed, Removal]] = []
    for item in claimed:
        with database.session(write=False) as session:
            in_use = _in_use(session, item.maildir)
        if in_use:
            removal = Removal("refused", f"{item.maildir!r} belongs to a live mailbox")
        else:
            removal = remove_storage(settings.mail_root, item.maildir)
        results.append((item, removal))
        counts[removal.outcome] += 1
    with database.transaction() as session:
        for item, removal in results:
            if removal.outcome in ("refused", "failed"):
                # Kept, and claimed again after the lease: an operator has to look.
                log.error(
                    "purge of %s (%s) %s: %s",
                    item.email,
                    item.maildir,
                    removal.outcome,
                    removal.detail,
                )
                continue
            row = session.get(DeletedMailbox, item.id)
            if row is not None:
                session.delete(row)
            record(
                session,
                principal,
                "mailbox.purge",
                object_type="deleted_mailbox",
                object_id=item.id,
                tenant_id=item.tenant_id,
                details={"email": item.email, "maildir": item.maildir, "files": removal.outcome},
            )
    return counts


def purge_due(
    settings: Settings,
    database: Database,
    now: datetime | None = None,
    *,
    ids: list[int] | None = None,
    principal: Principal = SYSTEM,
) -> dict[Outcome, int]:
    """Purge every due row (or the given ids); returns how many ended how."""
    now = now or utcnow()
    total: dict[Outcome, int] = {"removed": 0, "absent": 0, "refused": 0, "failed": 0}
    while True:
        batch = claim(settings, database, now, ids=ids)
        if not batch:
            break
        for outcome, count in purge_claimed(settings, database, batch, principal).items():
            total[outcome] += count
        if ids is not None:
            break
    if any(total.values()):
        log.info("purge of deleted mailboxes: %s", total)
    return total


def run_forever(
    settings: Settings, database: Database, stop: threading.Event, poll_seconds: float = 300.0
) -> None:
    """For the supervisor: purge what is due until ``stop`` is set."""
    while not stop.is_set():
        try:
            purge_due(settings, database)
        except Exception:  # the loop must outlive one bad run (database restart, ...)
            log.exception("purge of deleted mailboxes failed")
        stop.wait(poll_seconds)
