"""Running due jobs: claim, run, settle; across processes and machines.

A claim is one short write transaction that pushes the jobs' ``run_at`` a lease ahead and
names the runner in ``claimed_by``: other runners skip them until the lease ends, and a
runner that died (killed, machine lost) leaves jobs that simply become due again. On
PostgreSQL the claim skips rows another runner has locked (``FOR UPDATE SKIP LOCKED``);
on SQLite the writer session's ``BEGIN IMMEDIATE`` makes claims take turns.

Handlers run outside any transaction. The outcome is settled only by the runner that
still holds the claim (``claimed_by``), so a runner that outlived its lease cannot undo
the work of the one that took over. Delivery is at least once: a handler must be
idempotent (publishing the same records twice is harmless).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from mailplane.auth import mail_tokens, mailbox_sessions
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.db.overload import overload_of
from mailplane.jobs import registry
from mailplane.jobs.errors import PermanentJobError, TransientJobError
from mailplane.jobs.queue import forget_finished
from mailplane.models import Job, utcnow

log = logging.getLogger(__name__)

# last_error is shown to operators and users: a runaway message is cut here.
ERROR_LIMIT = 2000


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    subject: str | None
    payload: dict[str, Any]
    attempts: int  # this attempt included


def new_runner_id() -> str:
    """Unique per runner: host, process, and a random part (threads of one process)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Exponential from the base, capped, with +-20% jitter so that jobs failing together
    (one DNS server down) do not all come back in the same instant."""
    delay = settings.jobs_retry_base_seconds * 2 ** min(attempts - 1, 30)
    capped = min(delay, settings.jobs_retry_max_seconds)
    jittered = float(capped * random.uniform(0.8, 1.2))  # noqa: S311
    return min(jittered, settings.jobs_retry_max_seconds)


def _anything_due(database: Database, now: datetime) -> bool:
    """A read, so that an idle runner never takes SQLite's write lock."""
    with database.session(write=False) as session:
        query = select(Job.id).where(Job.run_at.is_not(None), Job.run_at <= now).limit(1)
        return session.scalar(query) is not None


def claim_due(
    settings: Settings, database: Database, runner: str, now: datetime, limit: int
) -> list[ClaimedJob]:
    if not _anything_due(database, now):
        return []
    lease_end = now + timedelta(seconds=settings.jobs_lease_seconds)
    with database.transaction() as session:
        query = (
            select(Job)
            .where(Job.run_at.is_not(None), Job.run_at <= now)
            .order_by(Job.run_at, Job.id)
            .limit(limit)
        )
        if not settings.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for job in session.scalars(query):
            job.claimed_by, job.run_at, job.attempts = runner, lease_end, job.attempts + 1
            claimed.append(
                ClaimedJob(job.id, job.kind, job.subject, dict(job.payload), job.attempts)
            )
        return claimed


def _settle(database: Database, job: ClaimedJob, runner: str, **values: Any) -> bool:
    """Write the outcome if this runner still holds the claim; False if another took over."""
    with database.transaction() as session:
        result = session.execute(
            update(Job).where(Job.id == job.id, Job.claimed_by == runner).values(**values)
        )
        settled = bool(result.rowcount)  # type: ignore[attr-defined]
    if not settled:
        log.warning("jobs: job %d (%s) was taken over by another runner", job.id, job.kind)
    return settled


def _give_up(
    settings: Settings, database: Database, job: ClaimedJob, runner: str, reason: str, now: datetime
) -> None:
    log.warning("jobs: job %d (%s) failed: %s", job.id, job.kind, reason)
    done = _settle(
        database, job, runner, run_at=None, claimed_by=None, finished_at=now, last_error=reason
    )
    registration = registry.registration_for(job.kind)
    if done and registration is not None and registration.on_give_up is not None:
        try:
            registration.on_give_up(settings, database, job.payload, reason)
        except Exception:
            log.exception("jobs: reporting the failure of job %d (%s) failed", job.id, job.kind)


def run_claimed(
    settings: Settings, database: Database, job: ClaimedJob, runner: str, now: datetime
) -> None:
    """Run one claimed job and settle it: done, retry later, or failed."""
    registration = registry.registration_for(job.kind)
    if registration is None:
        _give_up(settings, database, job, runner, f"no handler for job kind {job.kind!r}", now)
        return
    try:
        registration.handler(settings, database, job.payload)
    except PermanentJobError as exc:
        _give_up(settings, database, job, runner, str(exc)[:ERROR_LIMIT], now)
        return
    except Exception as exc:
        # Transient by declaration, or unexpected (a bug, the database restarting): retried,
        # so that nothing is lost to a passing fault; a bug still ends at the last attempt.
        if not isinstance(exc, TransientJobError) and overload_of(exc) is None:
            log.exception("jobs: job %d (%s) raised unexpectedly", job.id, job.kind)
        reason = (str(exc) or type(exc).__name__)[:ERROR_LIMIT]
        if job.attempts >= settings.jobs_max_attempts:
            _give_up(
                settings,
                database,
                job,
                runner,
                f"{reason} (gave up after {job.attempts} attempts)",
                now,
            )
            return
        retry_at = now + timedelta(seconds=backoff_seconds(settings, job.attempts))
        _settle(database, job, runner, run_at=retry_at, claimed_by=None, last_error=reason)
        return
    _settle(database, job, runner, run_at=None, claimed_by=None, finished_at=now, last_error=None)


def _by_subject(jobs: list[ClaimedJob]) -> list[list[ClaimedJob]]:
    """Jobs acting on one subject run in order on one thread (a publication, then the
    removal of the same domain); the others side by side."""
    groups: dict[object, list[ClaimedJob]] = {}
    for job in jobs:
        groups.setdefault(job.subject or ("job", job.id), []).append(job)
    return list(groups.values())


def run_due_jobs(
    settings: Settings,
    database: Database,
    *,
    limit: int | None = None,
    now: datetime | None = None,
    runner: str | None = None,
) -> int:
    """Claim up to ``limit`` due jobs (default ``jobs_batch_size``), run them, and return
    how many ran. ``now`` is for tests and tools that move the clock."""
    now = now or utcnow()
    runner = runner or new_runner_id()
    claimed = claim_due(settings, database, runner, now, limit or settings.jobs_batch_size)
    if not claimed:
        return 0
    groups = _by_subject(claimed)

    def run_group(group: list[ClaimedJob]) -> None:
        for job in group:
            run_claimed(settings, database, job, runner, now)

    workers = min(settings.jobs_concurrency, len(groups))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jobs") as pool:
        list(pool.map(run_group, groups))
    return len(claimed)


# How often a runner deletes finished jobs older than jobs_keep_days.
SWEEP_SECONDS = 3600.0


def forget_old_jobs(settings: Settings, database: Database, now: datetime | None = None) -> int:
    now = now or utcnow()
    before = now - timedelta(days=settings.jobs_keep_days)
    with database.transaction() as session:
        removed = forget_finished(session, before)
        # Expired mail tokens and mailbox logins: their rows only answer "inactive".
        tokens = mail_tokens.prune(session, now) + mailbox_sessions.prune(session, now)
    if removed:
        log.info("jobs: deleted %s jobs finished before %s", removed, before.isoformat())
    if tokens:
        log.info("auth: deleted %s expired mail tokens and mailbox logins", tokens)
    return removed


def run_forever(settings: Settings, database: Database, stop: threading.Event) -> None:
    """For ``mailplane up`` and ``mailplane worker``: run due jobs until ``stop`` is set.
    A full batch is followed at once by the next; otherwise wait ``jobs_poll_seconds``."""
    runner = new_runner_id()
    log.info("jobs: runner %s started", runner)
    next_sweep = 0.0
    while not stop.is_set():
        ran = 0
        try:
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_SECONDS
                forget_old_jobs(settings, database)
            ran = run_due_jobs(settings, database, runner=runner)
        except Exception as exc:  # the loop outlives a bad run (database restarting, busy)
            if overload_of(exc) is None:
                log.exception("jobs: run failed")
            else:
                log.warning("jobs: database busy, due jobs left for the next run: %s", exc)
        if ran < settings.jobs_batch_size:
            stop.wait(settings.jobs_poll_seconds)
