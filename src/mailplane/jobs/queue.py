"""Putting jobs in and reading their state. ``enqueue_job`` only adds a row and flushes:
the job exists exactly when the change that causes it is committed, and runs after that
commit (the runner sees committed rows only)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from mailplane.models import Job, utcnow


class JobState(StrEnum):
    """Derived from the row (never stored): what a user is told about a job."""

    QUEUED = "queued"  # due, never tried (or taken back from a runner that died)
    RUNNING = "running"  # claimed by a runner whose lease has not ended
    RETRYING = "retrying"  # failed for now; due again at run_at
    DONE = "done"
    FAILED = "failed"  # given up: last_error says why


def enqueue_job(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    subject: str | None = None,
) -> Job:
    """Add a job to the caller's transaction (flush only; the caller commits).

    ``payload`` must be JSON and carry everything the handler needs that may be gone by
    the time it runs. ``subject`` ("domain:42") groups the jobs acting on one thing: a
    runner runs them one after the other, in order."""
    job = Job(kind=kind, subject=subject, payload=payload, run_at=run_at or utcnow(), attempts=0)
    session.add(job)
    session.flush()
    return job


def state_of(job: Job, now: datetime | None = None) -> JobState:
    now = now or utcnow()
    if job.run_at is None:
        return JobState.FAILED if job.last_error is not None else JobState.DONE
    if job.claimed_by is not None and job.run_at > now:
        return JobState.RUNNING
    if job.last_error is not None and job.claimed_by is None:
        return JobState.RETRYING
    return JobState.QUEUED


def latest_for(session: Session, subject: str, kinds: tuple[str, ...]) -> Job | None:
    """The newest job of these kinds acting on ``subject`` (index on subject, id)."""
    query = (
        select(Job)
        .where(Job.subject == subject, Job.kind.in_(kinds))
        .order_by(Job.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def unfinished_and_failed(session: Session, limit: int) -> list[Job]:
    """Jobs an operator looks at: still to run, or given up (newest first)."""
    query = (
        select(Job)
        .where(or_(Job.run_at.is_not(None), Job.last_error.is_not(None)))
        .order_by(Job.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def forget_finished(session: Session, before: datetime) -> int:
    """Delete jobs that finished (done or failed for good) before ``before``."""
    result = session.execute(
        delete(Job).where(
            Job.run_at.is_(None), Job.finished_at.is_not(None), Job.finished_at < before
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
