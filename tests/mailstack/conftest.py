"""One real Postfix + Dovecot stack per test session, reading the suite's database.

The stack gets its own short state directory under /tmp (unix socket paths are limited
to 107 bytes) and free loopback ports; outbound mail goes to an aiosmtpd relay on
loopback. Tests isolate themselves with fresh tenants, domains and mailboxes made
through the HTTP API. Teardown is SIGKILL of both process groups, and the servers are
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
from tests.mailstack.support import MailStack, Relay
from tests.support.ports import free_port


@pytest.fixture(scope="session")
def relay() -> Iterator[Relay]:
    server = Relay(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mail_settings(settings: Settings, database: Database, relay: Relay) -> Iterator[Settings]:
    readiness = requirements.check()
    if not readiness.ok:
        pytest.skip(f"mail plane not runnable here: {readiness.explain()}")
    state = Path(tempfile.mkdtemp(prefix="mps-", dir="/tmp"))
    os.chmod(state, 0o755)
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
    yield make_settings(
        state,
        # The very database the API fixtures write to (SQLite file or PostgreSQL).
        settings.resolved_database_url,
        relay_host=f"[127.0.0.1]:{relay.port}",
        mail_fsync=False,
        **ports,
    )
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def mailstack(mail_settings: Settings) -> Iterator[MailStack]:
    bootstrap.prepare_state(mail_settings)
    servers = MailServers(mail_settings)
    servers.start()
    try:
        yield MailStack(mail_settings, servers)
    finally:
        servers.kill()
