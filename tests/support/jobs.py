"""Driving the job runner from a test: what `mailplane up` does in its "jobs" thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.jobs.runner import run_due_jobs
from tests.support.api import Api


def run_jobs(settings: Settings, database: Database, now: datetime | None = None) -> int:
    """Run every job due now (or at ``now``); how many ran."""
    ran = 0
    while batch := run_due_jobs(settings, database, limit=100, now=now):
        ran += batch
    return ran


def publication_of(api: Api, domain_id: int) -> dict[str, Any]:
    """The domain's latest DNS publication, as its owner sees it."""
    answer: dict[str, Any] = api.ok("GET", f"/api/v1/mail/domains/{domain_id}/dns/publication")
    last: dict[str, Any] = answer["last"]
    return last
