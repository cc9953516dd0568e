"""``mailplane up``: prepare the state, start every component, stop them all on a signal."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import urllib.error
import urllib.request
from types import FrameType

import uvicorn

from mailplane import migrations
from mailplane.api.app import create_app
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.dns import scheduler
from mailplane.mailserver import bootstrap, requirements
from mailplane.mailserver.processes import MailServers, probe

log = logging.getLogger(__name__)


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # uvicorn restores the previous handler and re-raises the signal after its own
    # graceful shutdown; with this handler that becomes SystemExit, so the finally
    # clause below still stops Postfix and Dovecot instead of the process just dying.
    raise SystemExit(128 + signum)


def start_mail_servers(settings: Settings) -> MailServers | None:
    """Dovecot then Postfix, or None (and an exact explanation) when they cannot run."""
    if not settings.mail_enabled:
        log.info("mail plane disabled (MAILPLANE_MAIL_ENABLED=false): running the API alone")
        return None
    readiness = requirements.check()
    if not readiness.ok:
        message = f"mail plane not started: {readiness.explain()}. Running the API alone."
        log.warning(message)
        print(message, file=sys.stderr)
        return None
    servers = MailServers(settings)
    servers.start()
    log.info(
        "mail plane up: SMTP %s, submission %s/%s, IMAP %s/%s",
        settings.smtp_port,
        settings.submission_port,
        settings.submissions_port,
        settings.imap_port,
        settings.imaps_port,
    )
    return servers


def run_platform(settings: Settings) -> int:
    """``mailplane up``: Dovecot, Postfix, the DNS re-check loop, then the API; all stopped on
    Ctrl-C/SIGTERM."""
    from mailplane.cli.main import ensure_state

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ensure_state(settings)
    migrations.upgrade(settings)
    bootstrap.prepare_state(settings)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    servers = start_mail_servers(settings)
    database = Database(settings)
    stop = threading.Event()
    # DNS re-verification of due domains (spread over time by their next_check_at).
    dns_loop = threading.Thread(
        target=scheduler.run_forever, args=(settings, database, stop), name="dns", daemon=True
    )
    dns_loop.start()
    try:
        config = uvicorn.Config(
            create_app(settings, database),
            host=settings.api_host,
            port=settings.api_port,
            log_level="info",
        )
        # uvicorn installs its own SIGINT/SIGTERM handlers and returns when told to stop.
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        dns_loop.join(timeout=10)
        database.dispose()
        if servers is not None:
            log.info("stopping Postfix and Dovecot")
            servers.stop()
    return 0


def api_status(settings: Settings) -> tuple[str, bool, str]:
    url = f"http://{settings.api_host}:{settings.api_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = json.loads(response.read())
            return ("api", True, f"{url} {body.get('status')}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return ("api", False, f"{url} unreachable: {exc}")


def component_status(settings: Settings) -> list[tuple[str, bool, str]]:
    statuses = [api_status(settings)]
    if settings.mail_enabled:
        statuses += [(h.name, h.ok, h.detail) for h in probe(settings)]
    return statuses
