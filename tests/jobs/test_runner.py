"""The job runner with handlers of its own kinds: a job exists only with the change that
enqueued it, transient failures retry and clear once done, permanent ones fail at once and
are reported once, jobs of one subject run in order, and an unknown kind fails clearly."""

from __future__ import annotations

import secrets
import threading
from datetime import timedelta
from typing import Any

import pytest

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.jobs import (
    JobState,
    PermanentJobError,
    TransientJobError,
    enqueue_job,
    register,
    state_of,
)
from mailplane.jobs.runner import forget_old_jobs
from mailplane.models import Job, utcnow
from tests.support.jobs import run_jobs

_lock = threading.Lock()
_seen: dict[str, list[Any]] = {}


def _note(key: str, value: Any) -> int:
    with _lock:
        _seen.setdefault(key, []).append(value)
        return len(_seen[key])


def _flaky(settings: Settings, database: Database, payload: dict[str, Any]) -> None:
    if _note(payload["key"], "try") <= payload["failures"]:
        raise TransientJobError("the server is napping")


def _refused(settings: Settings, database: Database, payload: dict[str, Any]) -> None:
    _note(payload["key"], "try")
    raise PermanentJobError("the server said no")


def _report(settings: Settings, database: Database, payload: dict[str, Any], why: str) -> None:
    _note(payload["key"] + ":given-up", why)


def _in_order(settings: Settings, database: Database, payload: dict[str, Any]) -> None:
    _note(payload["key"], payload["n"])


register("test.flaky", _flaky, on_give_up=_report)
register("test.refused", _refused, on_give_up=_report)
register("test.in_order", _in_order)


def _enqueue(database: Database, kind: str, payload: dict[str, Any], **kw: Any) -> int:
    with database.transaction() as session:
        return enqueue_job(session, kind, payload, **kw).id


def _job(database: Database, job_id: int) -> Job:
    with database.session(write=False) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_a_job_exists_only_with_the_change_that_enqueued_it(database: Database) -> None:
    class Abandoned(Exception):
        pass

    key = secrets.token_hex(4)

    def failing_request() -> None:
        with database.transaction() as session:
            enqueue_job(session, "test.in_order", {"key": key, "n": 1})
            raise Abandoned  # the request failed after enqueuing: rolled back with it

    with pytest.raises(Abandoned):
        failing_request()
    with database.session(write=False) as session:
        assert all(job.payload.get("key") != key for job in session.query(Job))


def test_transient_failures_retry_with_backoff_then_succeed(
    settings: Settings, database: Database
) -> None:
    key = secrets.token_hex(4)
    job_id = _enqueue(database, "test.flaky", {"key": key, "failures": 2})
    now = utcnow()
    run_jobs(settings, database, now=now)
    job = _job(database, job_id)
    assert (state_of(job), job.attempts, job.last_error) == (
        JobState.RETRYING,
        1,
        "the server is napping",
    )
    assert job.run_at is not None
    assert job.run_at > now
    later = now + timedelta(seconds=settings.jobs_retry_max_seconds)
    run_jobs(settings, database, now=later)
    run_jobs(settings, database, now=later + timedelta(seconds=settings.jobs_retry_max_seconds))
    job = _job(database, job_id)
    assert (state_of(job), job.attempts, job.last_error) == (JobState.DONE, 3, None)
    assert job.finished_at is not None
    assert key + ":given-up" not in _seen


def test_a_permanent_failure_fails_at_once_and_is_reported_once(
    settings: Settings, database: Database
) -> None:
    key = secrets.token_hex(4)
    job_id = _enqueue(database, "test.refused", {"key": key})
    run_jobs(settings, database)
    run_jobs(settings, database, now=utcnow() + timedelta(days=1))
    job = _job(database, job_id)
    assert (state_of(job), job.attempts, job.last_error) == (
        JobState.FAILED,
        1,
        "the server said no",
    )
    assert _seen[key] == ["try"]
    assert _seen[key + ":given-up"] == ["the server said no"]


def test_jobs_of_one_subject_run_in_order(settings: Settings, database: Database) -> None:
    key = secrets.token_hex(4)
    for n in range(8):
        _enqueue(database, "test.in_order", {"key": key, "n": n}, subject=f"thing:{key}")
    run_jobs(settings.model_copy(update={"jobs_concurrency": 8}), database)
    assert _seen[key] == list(range(8))


def test_an_unknown_kind_fails_with_a_clear_reason(settings: Settings, database: Database) -> None:
    job_id = _enqueue(database, "test.nobody-handles-this", {})
    run_jobs(settings, database)
    job = _job(database, job_id)
    assert state_of(job) == JobState.FAILED
    assert job.last_error == "no handler for job kind 'test.nobody-handles-this'"


def test_finished_jobs_are_forgotten_after_the_keep_time(
    settings: Settings, database: Database
) -> None:
    """Done and failed jobs go after jobs_keep_days (their payloads may hold what a removal
    needed); jobs still due stay, however old."""
    done = _enqueue(database, "test.in_order", {"key": secrets.token_hex(4), "n": 1})
    refused = _enqueue(database, "test.refused", {"key": secrets.token_hex(4)})
    now = utcnow()
    run_jobs(settings, database, now=now)
    waiting = _enqueue(
        database,
        "test.in_order",
        {"key": secrets.token_hex(4), "n": 2},
        run_at=now + timedelta(days=30),
    )
    forget_old_jobs(settings, database, now=now)
    with database.session(write=False) as session:
        assert {session.get(Job, i) is not None for i in (done, refused, waiting)} == {True}
    later = now + timedelta(days=settings.jobs_keep_days, seconds=1)
    forget_old_jobs(settings, database, now=later)
    with database.session(write=False) as session:
        assert session.get(Job, done) is None
        assert session.get(Job, refused) is None
        assert session.get(Job, waiting) is not None
