"""``mailplane up``: prepare the state, start every component, stop them all on a signal."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from types import FrameType

from mailplane import migrations
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.domains.verification import scheduler
from mailplane.jobs import runner as jobs_runner
from mailplane.mailboxes import purge
from mailplane.mailserver import bootstrap, requirements
from mailplane.mailserver.processes import Health, MailServers, probe, read_greeting
from mailplane.runtime.api_process import ApiProcess
from mailplane.runtime.state import ensure_state
from mailplane.webhooks import dispatcher as webhooks_dispatcher

log = logging.getLogger(__name__)


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


def start_intake(settings: Settings) -> ApiProcess | None:
    """``mailplane intake`` as a supervised child, ready (listening) before Postfix starts."""
    if not settings.mail_enabled:
        return None
    intake = ApiProcess("intake", "intake")
    intake.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and intake_health(settings).ok is False:
        time.sleep(0.05)
    return intake


def run_platform(settings: Settings) -> int:
    """``mailplane up``: Dovecot, the SMTP intake, Postfix, the DNS re-check loop, the purge
    of deleted mailboxes, the job runner, the API and ``settings.workers`` delivery workers
    (each with a webhook dispatcher; with no workers, the dispatcher runs here)
    (the intake, the API and the workers are child processes restarted if they die); all
    stopped on Ctrl-C/SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ensure_state(settings)
    migrations.upgrade(settings)
    bootstrap.prepare_state(settings)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    # The intake (and its submission milter) before Postfix: Postfix hands it every
    # non-local message; had it started first, that mail would only wait in its queue.
    intake = start_intake(settings)
    servers = start_mail_servers(settings)
    database = Database(settings)
    # DNS re-verification of due domains (spread over time by their next_check_at).
    dns_loop = threading.Thread(
        target=scheduler.run_forever, args=(settings, database, stop), name="dns", daemon=True
    )
    dns_loop.start()
    # Removal of deleted mailboxes' files once their grace period is over.
    purge_loop = threading.Thread(
        target=purge.run_forever,
        args=(settings, database, stop, settings.mailbox_purge_interval_seconds),
        name="purge",
        daemon=True,
    )
    purge_loop.start()
    # Side effects enqueued by requests and loops (DNS publication, ...), run after commit.
    jobs_loop = threading.Thread(
        target=jobs_runner.run_forever, args=(settings, database, stop), name="jobs", daemon=True
    )
    jobs_loop.start()
    # Signed webhooks: each delivery worker runs a dispatcher; without workers, this one.
    webhooks_loop: threading.Thread | None = None
    if settings.workers == 0:
        webhooks_loop = threading.Thread(
            target=webhooks_dispatcher.run_forever,
            args=(settings, database, stop),
            name="webhooks",
            daemon=True,
        )
        webhooks_loop.start()
    api = ApiProcess()
    api.start()
    # Delivery workers: separate processes (each one asyncio loop), restarted like the API.
    # A killed worker loses nothing: its claimed rows are due again when its lease ends.
    workers = [ApiProcess("worker", f"delivery worker {n + 1}") for n in range(settings.workers)]
    for worker in workers:
        worker.start()
    try:
        while not stop.wait(0.5):
            api.watch()
            for worker in workers:
                worker.watch()
            if intake is not None:
                intake.watch()
    finally:
        # SIGTERM to all at once: each worker finishes its sends in flight and commits.
        for worker in workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.process.terminate()
        for worker in workers:
            worker.stop(timeout=settings.delivery_command_timeout_seconds + 10)
        api.stop()
        dns_loop.join(timeout=10)
        purge_loop.join(timeout=10)
        jobs_loop.join(timeout=10)
        if webhooks_loop is not None:
            webhooks_loop.join(timeout=settings.webhook_timeout_seconds + 5)
        database.dispose()
        if servers is not None:
            log.info("stopping Postfix and Dovecot")
            servers.stop()
        if intake is not None:
            intake.stop()
    return 0


def intake_health(settings: Settings) -> Health:
    """The intake's SMTP greeting; the milter shares its process and its fate."""
    host, port = settings.mail_listen_address, settings.intake_port
    try:
        line = read_greeting(host, port)
    except OSError as exc:
        return Health("intake", False, f"{host}:{port} unreachable: {exc}")
    ok = line.startswith(b"220")
    return Health("intake", ok, f"{host}:{port} {line.decode(errors='replace').strip()[:60]}")


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
        statuses += [(h.name, h.ok, h.detail) for h in (*probe(settings), intake_health(settings))]
    return statuses
