"""``mailplane intake``: the SMTP intake (TCP on loopback) and the submission milter (a
Unix socket only Postfix can open) in one process. ``mailplane up`` supervises it and
starts it before Postfix."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from functools import partial
from pathlib import Path

from mailplane.bounces import policy
from mailplane.bounces.receiver import BounceHandler
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.intake.committer import Committer
from mailplane.intake.milter import serve_connection
from mailplane.intake.receipts import forget_old
from mailplane.intake.senders import SenderVerdict, judge
from mailplane.intake.smtp_server import IntakeHandler, IntakeSMTP
from mailplane.mailserver.layout import layout

log = logging.getLogger(__name__)

# Postfix stops at message_size_limit; the marker header and Received lines add a little.
_SIZE_MARGIN = 64 * 1024


# How often the intake removes receipts Postfix can no longer need (intake/receipts.py).
_RECEIPT_SWEEP_SECONDS = 3600.0


def sweep_receipts(database: Database) -> None:
    with database.transaction() as session:
        removed = forget_old(session)
    if removed:
        log.info("removed %s old intake receipts", removed)


async def _sweep_forever(database: Database) -> None:
    while True:
        try:
            await asyncio.to_thread(sweep_receipts, database)
        except Exception:
            log.exception("could not remove old intake receipts; trying again later")
        await asyncio.sleep(_RECEIPT_SWEEP_SECONDS)


def check_senders(
    database: Database, login: str, from_values: list[str], sender_values: list[str]
) -> SenderVerdict:
    session = database.session(write=False)
    try:
        return judge(session, login, from_values, sender_values)
    finally:
        session.close()


async def serve(settings: Settings, database: Database, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    host = settings.mail_listen_address
    secret = settings.effective_secret()
    committer = Committer(database, settings)
    committing = asyncio.create_task(committer.run())
    sweeping = asyncio.create_task(_sweep_forever(database))
    handler = IntakeHandler(committer.queue_message)
    smtp = await loop.create_server(
        lambda: IntakeSMTP(
            handler,
            settings.mail_inject_networks,
            hostname=settings.mail_hostname,
            ident="mailplane intake",
            data_size_limit=settings.message_size_limit_mb * 1024 * 1024 + _SIZE_MARGIN,
            enable_SMTPUTF8=True,
            loop=loop,
        ),
        host,
        settings.intake_port,
    )

    # The bounce receiver: same server class (Postfix only, XFORWARD), its own handler.
    bounces = await loop.create_server(
        lambda: IntakeSMTP(
            BounceHandler(settings, database),
            settings.mail_inject_networks,
            hostname=settings.mail_hostname,
            ident="mailplane bounces",
            data_size_limit=settings.message_size_limit_mb * 1024 * 1024 + _SIZE_MARGIN,
            enable_SMTPUTF8=True,
            loop=loop,
        ),
        host,
        settings.bounce_port,
    )
    policy_path = layout(settings).bounce_policy_socket
    policy_server = await asyncio.start_unix_server(
        partial(policy.serve_connection, settings=settings), _fresh_socket(policy_path)
    )
    _open_to_postfix(policy_path)

    async def decide(login: str, froms: list[str], senders: list[str]) -> SenderVerdict:
        return await asyncio.to_thread(check_senders, database, login, froms, senders)

    socket_path = layout(settings).milter_socket
    milter_server = await asyncio.start_unix_server(
        partial(serve_connection, secret=secret, decide=decide), _fresh_socket(socket_path)
    )
    _open_to_postfix(socket_path)
    log.info(
        "intake on %s:%s, bounces on %s:%s, submission milter on %s",
        host,
        settings.intake_port,
        host,
        settings.bounce_port,
        socket_path,
    )
    try:
        await stop.wait()
    finally:
        smtp.close()
        bounces.close()
        milter_server.close()
        policy_server.close()
        # Messages already received are committed and answered before the process ends:
        # fewer handovers for Postfix to repeat (receipts make a repeat harmless anyway).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(committer.drained(), 10)
        await asyncio.sleep(0.1)  # time for the sessions to send their 250
        committing.cancel()
        sweeping.cancel()
        # Postfix caches its connections: do not wait for it to hang up.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(
                    smtp.wait_closed(),
                    bounces.wait_closed(),
                    milter_server.wait_closed(),
                    policy_server.wait_closed(),
                ),
                5,
            )


def _fresh_socket(path: Path) -> str:
    """A socket left by a killed intake would make the bind fail."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return str(path)


def _open_to_postfix(path: Path) -> None:
    """Only Postfix's smtpd (group postfix) and root may connect: the socket's directory
    is root:postfix 0750 (mailserver/bootstrap.py) and the socket itself 0660."""
    os.chmod(path, 0o660)
    if os.geteuid() == 0:
        shutil.chown(path, "root", "postfix")


def run_intake(settings: Settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # aiosmtpd logs every command at INFO: a line per command per message is noise (and
    # a cost) when Postfix's log already has the transaction.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    database = Database(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(settings, database, stop)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
    finally:
        database.dispose()
    return 0
