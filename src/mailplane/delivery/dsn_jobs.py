"""The ``dsn.send`` job kind for the job runner: a DSN the worker could not hand to the
managed Postfix at once (its inject port was down) is retried here until it can."""

from __future__ import annotations

import smtplib
from typing import Any

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.delivery.dsn import send_dsn_job
from mailplane.jobs import PermanentJobError, TransientJobError, register

DSN_SEND = "dsn.send"


def send(settings: Settings, _database: Database, payload: dict[str, Any]) -> None:
    try:
        send_dsn_job(settings, payload)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(500 <= code < 600 for code in codes):
            # The sender's own mailbox refuses it for good (deleted meanwhile): nobody to tell.
            raise PermanentJobError(f"the sender's mailbox refused the DSN: {codes}") from exc
        raise TransientJobError(f"the sender's mailbox deferred the DSN: {codes}") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise TransientJobError(f"the managed Postfix is unreachable: {exc}") from exc


register(DSN_SEND, send)
