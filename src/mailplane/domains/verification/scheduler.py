"""The periodic re-check, spread over time, and the retirement of old DKIM keys.

Each domain carries ``next_check_at`` (set with jitter after every check). A run claims the
due domains in small batches: one short transaction moves their ``next_check_at`` a lease
ahead (so that another process, or the next run, does not take them too), the DNS work
runs outside any transaction in a thread pool, and each result is written in its own short
transaction. On PostgreSQL the claim skips rows another node has locked.

A database too busy for these short transactions (a burst of API writes holding SQLite's
lock past the busy timeout, no free connection) does not fail the run: results are stored
again after a pause, and if that fails too the run ends early with a warning. Nothing is
dropped: claimed domains become due again when their lease runs out, the rest stay due.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import or_, select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.db.overload import overload_of
from mailplane.dkim import rotation
from mailplane.domains.verification.checks import Check, Report
from mailplane.domains.verification.state import (
    DomainSnapshot,
    apply_report,
    check,
    snapshot,
    unproven_alias_domains,
)
from mailplane.models import AliasDomain, DkimKey, Domain, utcnow
from mailplane.protocols.dns.resolver import DnsClient

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# A claimed domain not finished within this time (a crash) becomes due again.
CLAIM_LEASE = timedelta(minutes=10)
# Storing a batch's results when the database is busy: tries, and the pause between them.
STORE_ATTEMPTS = 3
STORE_RETRY_SECONDS = 2.0


def claim_due(
    settings: Settings, database: Database, now: datetime, limit: int
) -> list[DomainSnapshot]:
    with database.transaction() as session:
        query = (
            select(Domain)
            .where(or_(Domain.next_check_at.is_(None), Domain.next_check_at <= now))
            .order_by(Domain.next_check_at, Domain.id)
            .limit(limit)
        )
        if not settings.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        domains = list(session.scalars(query))
        keys: dict[int, list[DkimKey]] = {d.id: [] for d in domains}
        aliases: dict[int, list[AliasDomain]] = {d.id: [] for d in domains}
        if domains:
            query_keys = select(DkimKey).where(DkimKey.domain_id.in_(keys)).order_by(DkimKey.id)
            for key in session.scalars(query_keys):
                keys[key.domain_id].append(key)
            query_aliases = unproven_alias_domains(list(aliases)).order_by(AliasDomain.id)
            for alias in session.scalars(query_aliases):
                aliases[alias.domain_id].append(alias)
        for domain in domains:
            domain.next_check_at = now + CLAIM_LEASE
        return [snapshot(session, settings, d, keys[d.id], aliases[d.id]) for d in domains]


def contained_check(dns: DnsClient, settings: Settings, snap: DomainSnapshot) -> Report:
    """One domain's check that cannot take the batch down: whatever goes wrong while
    checking it is logged and becomes an inconclusive report for that domain alone."""
    try:
        return check(dns, settings, snap)
    except Exception:
        log.exception("dns: checking %s failed unexpectedly", snap.name)
        failure = Check(
            "verification",
            f"domain {snap.name}",
            "",
            None,
            "error",
            "mailplane could not check this domain (an internal error, logged for the "
            "operator); this is not a verdict about your records, and it retries later.",
            decisive=True,
            temporary=True,
        )
        return Report(domain=snap.name, outcome="inconclusive", checks=[failure])


def _store(
    settings: Settings,
    database: Database,
    results: list[tuple[DomainSnapshot, Report]],
    now: datetime,
) -> None:
    """One short transaction per batch: SQLite has one writer, so fewer commits go further."""
    with database.transaction() as session:
        for snap, report in results:
            domain = session.get(Domain, snap.id)
            if domain is not None:  # deleted while we were asking DNS
                apply_report(session, settings, domain, report, now)


def verify_now(
    settings: Settings,
    database: Database,
    names: list[str] | None,
    now: datetime | None = None,
    dns: DnsClient | None = None,
) -> list[tuple[str, str, Report]]:
    """Check the named domains (all when ``names`` is None) at once, due or not.

    Returns (domain, verification_status, report) per domain, in name order.
    """
    now = now or utcnow()
    dns = dns or DnsClient.from_settings(settings)
    with database.transaction() as session:
        query = select(Domain).order_by(Domain.name)
        if names is not None:
            query = query.where(Domain.name.in_(names))
        snaps = [snapshot(session, settings, d) for d in session.scalars(query)]
    results = []
    with ThreadPoolExecutor(max_workers=settings.verification_concurrency) as pool:
        for snap, report in pool.map(lambda s: (s, contained_check(dns, settings, s)), snaps):
            _store(settings, database, [(snap, report)], now)
            with database.session(write=False) as session:
                domain = session.get(Domain, snap.id)
                results.append(
                    (snap.name, domain.verification_status if domain else "deleted", report)
                )
    return results


def run_pending(
    settings: Settings,
    database: Database,
    now: datetime | None = None,
    dns: DnsClient | None = None,
    *,
    concurrency: int | None = None,
) -> int:
    """Check every domain that is due; returns how many were checked."""
    now = now or utcnow()
    dns = dns or DnsClient.from_settings(settings)
    workers = concurrency or settings.verification_concurrency
    done = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dns-verify") as pool:
        limit = max(settings.verification_batch_size, workers)
        while True:
            batch = _when_not_busy(lambda: claim_due(settings, database, now, limit), "claim")
            if not batch:
                break
            results = list(pool.map(lambda s: (s, contained_check(dns, settings, s)), batch))
            if not _store_patiently(settings, database, results, now):
                break
            done += len(results)
    done_keys = (
        _when_not_busy(lambda: rotation.retire_due_keys(settings, database, now), "retire") or 0
    )
    if done or done_keys:
        log.info("dns: checked %d domains, retired %d DKIM keys", done, done_keys)
    return done


def _when_not_busy(work: Callable[[], _T], what: str) -> _T | None:
    """``work()``, or None with a warning when the database is too busy for it now."""
    try:
        return work()
    except Exception as exc:
        if overload_of(exc) is None:
            raise
        log.warning("dns: database busy, %s left for the next run: %s", what, exc)
        return None


def _store_patiently(
    settings: Settings,
    database: Database,
    results: list[tuple[DomainSnapshot, Report]],
    now: datetime,
) -> bool:
    """Store a batch's results, pausing and trying again while the database is busy."""
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            _store(settings, database, results, now)
            return True
        except Exception as exc:
            if overload_of(exc) is None:
                raise
            if attempt == STORE_ATTEMPTS:
                log.warning(
                    "dns: database busy, %d checked domains will be checked again when "
                    "their claim expires: %s",
                    len(results),
                    exc,
                )
                return False
            time.sleep(STORE_RETRY_SECONDS * attempt)
    return False


def run_forever(
    settings: Settings, database: Database, stop: threading.Event, poll_seconds: float = 30.0
) -> None:
    """For the supervisor: check due domains until ``stop`` is set."""
    dns = DnsClient.from_settings(settings)
    while not stop.is_set():
        try:
            run_pending(settings, database, dns=dns)
        except Exception:  # the loop must outlive one bad run (database restart, ...)
            log.exception("dns: periodic verification run failed")
        stop.wait(poll_seconds)
