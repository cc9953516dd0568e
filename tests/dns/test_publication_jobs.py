"""DNS publication as jobs (docs/architecture.md, "Side effects as jobs"): the request
never waits for the DNS server; a server that is down is retried with backoff and holds up
no other domain; a job whose runner died is taken over once its lease ends; and the runner
thread that `mailplane up` starts publishes on its own."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.jobs.runner import claim_due, run_claimed, run_forever
from mailplane.models import utcnow
from tests.support.api import Api
from tests.support.jobs import publication_of, run_jobs
from tests.support.knot import Knot
from tests.support.ports import free_port


def _zone(knot: Knot) -> str:
    name = f"jobs{secrets.token_hex(4)}.test"
    knot.add_zone(name)
    return name


@contextmanager
def _silent_dns_server() -> Iterator[socket.socket]:
    """A DNS server that hangs: the kernel completes TCP handshakes on its listening
    socket, and nobody ever reads or answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def _connections_to(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            connection, _ = sock.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_request_does_not_wait_for_the_dns_server(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    name = _zone(knot)
    with _silent_dns_server() as server:
        hanging = {"server": "127.0.0.1", "port": server.getsockname()[1]}
        domain = dns_api.domain(
            tenant["id"], name=name, dns_automation="rfc2136", dns_settings=hanging
        )
        assert domain["dns_publication"]["status"] == "queued"
        # The domain was answered and committed without anyone contacting the DNS server.
        assert _connections_to(server) == 0
        assert dns_api.ok("GET", f"/api/v1/mail/domains/{domain['id']}")["domain_ascii"] == name

        impatient = dns_settings.model_copy(update={"dns_timeout_seconds": 0.3})
        run_jobs(impatient, database)  # the runner does call it, and gives up waiting
        assert _connections_to(server) == 1
    waiting = publication_of(dns_api, domain["id"])
    assert (waiting["status"], waiting["attempts"]) == ("retrying", 1)
    assert "unreachable" in waiting["last_error"]


def test_a_down_server_is_retried_with_backoff_and_holds_up_no_other_domain(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    closed = {"server": "127.0.0.1", "port": free_port()}  # nothing listens: refused
    broken = dns_api.domain(
        tenant["id"], name=_zone(knot), dns_automation="rfc2136", dns_settings=closed
    )
    healthy_name = _zone(knot)
    healthy = dns_api.domain(tenant["id"], name=healthy_name, dns_automation="rfc2136")

    now = utcnow()
    run_jobs(dns_settings, database, now=now)
    assert publication_of(dns_api, healthy["id"])["status"] == "published"
    assert knot.query(healthy_name, "MX") == ["10 mail.mailplane.test."]
    first = publication_of(dns_api, broken["id"])
    assert (first["status"], first["attempts"]) == ("retrying", 1)
    assert "unreachable" in first["last_error"]
    # Backoff: base 5 s, doubled per attempt, with +-20% jitter.
    retry_at = _at(first["next_attempt_at"])
    assert now + timedelta(seconds=4) <= retry_at <= now + timedelta(seconds=6)

    run_jobs(dns_settings, database, now=now + timedelta(seconds=3))  # not due yet
    assert publication_of(dns_api, broken["id"])["attempts"] == 1

    run_jobs(dns_settings, database, now=retry_at)
    second = publication_of(dns_api, broken["id"])
    assert (second["status"], second["attempts"]) == ("retrying", 2)
    retry_at_2 = _at(second["next_attempt_at"])
    assert retry_at + timedelta(seconds=8) <= retry_at_2 <= retry_at + timedelta(seconds=12)

    # After jobs_max_attempts the job has failed, and the audit log says so once.
    patience = dns_settings.model_copy(update={"jobs_max_attempts": 3})
    run_jobs(patience, database, now=retry_at_2)
    failed = publication_of(dns_api, broken["id"])
    assert (failed["status"], failed["attempts"], failed["next_attempt_at"]) == ("failed", 3, None)
    assert "gave up after 3 attempts" in failed["last_error"]
    audit = dns_api.ok("GET", "/api/v1/audit", params={"action": "domain.dns_publish"})
    outcomes = [e["details"]["status"] for e in audit["items"] if e["object_id"] == broken["id"]]
    assert outcomes == ["failed"]


def test_a_job_whose_runner_died_is_taken_over_after_its_lease(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    name = _zone(knot)
    domain = dns_api.domain(tenant["id"], name=name, dns_automation="rfc2136")
    job_id = domain["dns_publication"]["job_id"]

    # A runner claims the job, then is killed before it settles it.
    now = utcnow()
    claimed = claim_due(dns_settings, database, "runner-that-died", now, limit=1000)
    (stale,) = [job for job in claimed if job.id == job_id]
    assert publication_of(dns_api, domain["id"])["status"] == "running"

    run_jobs(dns_settings, database, now=now + timedelta(seconds=1))  # its lease holds
    assert knot.query(name, "MX") == []

    lease_end = now + timedelta(seconds=dns_settings.jobs_lease_seconds)
    run_jobs(dns_settings, database, now=lease_end + timedelta(seconds=1))
    taken_over = publication_of(dns_api, domain["id"])
    assert (taken_over["status"], taken_over["attempts"]) == ("published", 2)
    assert knot.query(name, "MX") == ["10 mail.mailplane.test."]

    # Should the lost runner wake up and fail, its outcome does not overwrite the new one.
    wrong_key = SecretStr("d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==")
    refused = dns_settings.model_copy(update={"rfc2136_key_secret": wrong_key})
    run_claimed(refused, database, stale, "runner-that-died", now)
    assert publication_of(dns_api, domain["id"])["status"] == "published"


def test_the_runner_thread_of_mailplane_up_publishes_on_its_own(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    stop = threading.Event()
    runner = threading.Thread(target=run_forever, args=(dns_settings, database, stop))
    runner.start()
    try:
        name = _zone(knot)
        domain = dns_api.domain(tenant["id"], name=name, dns_automation="rfc2136")
        knot.wait_for(name, "MX", timeout=15)
        assert knot.query(name, "MX") == ["10 mail.mailplane.test."]
        deadline = time.monotonic() + 15
        while publication_of(dns_api, domain["id"])["status"] != "published":
            assert time.monotonic() < deadline, publication_of(dns_api, domain["id"])
            time.sleep(0.05)
    finally:
        stop.set()
        runner.join(timeout=15)
    assert not runner.is_alive()
