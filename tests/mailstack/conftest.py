"""One real Postfix + Dovecot stack per test session, reading the suite's database.

The stack gets its own short state directory under /tmp (unix socket paths are limited
to 107 bytes) and free loopback ports; outbound mail goes, as in production, to a real
``mailplane intake`` process, which commits it to mailplane's queue (read by ``outbox``).
Tests isolate themselves with fresh tenants, domains and mailboxes made through the HTTP
API. Teardown is SIGKILL of both process groups, and the servers are
started with PR_SET_PDEATHSIG, so even a SIGKILLed pytest leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.mailserver import bootstrap, requirements
from mailplane.mailserver.processes import MailServers
from tests.conftest import make_settings
from tests.mailstack.outbox import IntakeProcess, Outbox
from tests.mailstack.support import MailStack
from tests.support.knot import Knot, knot_server
from tests.support.live_api import api_on_port
from tests.support.mx import RemoteMx
from tests.support.ports import free_port


@pytest.fixture(scope="session")
def mail_settings(settings: Settings, database: Database) -> Iterator[Settings]:
    readiness = requirements.check()
    if not readiness.ok:
        pytest.skip(f"mail plane not runnable here: {readiness.explain()}")
    state = Path(tempfile.mkdtemp(prefix="mps-", dir="/tmp"))
    os.chmod(state, 0o755)
    ports: dict[str, int] = {}
    for name in (
        "smtp_port",
        "submission_port",
        "submissions_port",
        "inject_port",
        "imap_port",
        "imaps_port",
        "intake_port",
        "bounce_port",
        # Where Dovecot's oauth2 passdb finds the introspection endpoint: ``mail_api``.
        "api_port",
    ):
        # free_port() closes its socket, so two calls can name the same port: the intake
        # once took the submissions port and TLS clients met plain SMTP. Distinct ports.
        port = free_port()
        while port in ports.values():
            port = free_port()
        ports[name] = port
    yield make_settings(
        state,
        # The very database the API fixtures write to (SQLite file or PostgreSQL).
        settings.resolved_database_url,
        # The API fixtures' secret: the intake and the tests agree on markers and SRS.
        secret_key=settings.secret_key,
        mail_fsync=False,
        **ports,
    )
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def intake(mail_settings: Settings) -> Iterator[IntakeProcess]:
    process = IntakeProcess(mail_settings)
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def outbox(database: Database) -> Outbox:
    return Outbox(database)


@pytest.fixture(scope="session")
def mailstack(mail_settings: Settings, intake: IntakeProcess) -> Iterator[MailStack]:
    bootstrap.prepare_state(mail_settings)
    servers = MailServers(mail_settings)
    servers.start()
    try:
        yield MailStack(mail_settings, servers)
    finally:
        servers.kill()


@pytest.fixture(scope="session")
def mail_api(mail_settings: Settings, database: Database) -> Iterator[str]:
    """The real API on the stack's api_port: Dovecot introspects mail tokens (XOAUTH2,
    OAUTHBEARER) there. Yields its base URL."""
    with api_on_port(mail_settings, mail_settings.api_port, {}) as server:
        yield server.url


# An outside MX for the delivery engine: an aiosmtpd server on its own loopback address,
# found through MX records that a Knot server publishes.
OUTSIDE_MX_HOST = "127.0.0.7"


@pytest.fixture(scope="session")
def knot() -> Iterator[Knot]:
    with knot_server() as server:
        yield server


@pytest.fixture(scope="session")
def outside() -> Iterator[RemoteMx]:
    server = RemoteMx(OUTSIDE_MX_HOST, free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def engine(mail_settings: Settings, knot: Knot, outside: RemoteMx) -> Settings:
    """The stack's settings for a worker that finds MX hosts through Knot."""
    return mail_settings.model_copy(
        update={
            "delivery_resolvers": ["127.0.0.1"],
            "dns_port": knot.port,
            "delivery_smtp_port": outside.port,
            "delivery_retry_base_seconds": 0.2,
            "delivery_retry_max_seconds": 1.0,
            "delivery_lease_seconds": 5.0,
        }
    )
